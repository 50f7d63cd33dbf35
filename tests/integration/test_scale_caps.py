"""Past one machine: four scheduler worker processes and two dispatchers never exceed a cap.

Real redis-server, the real control plane under uvicorn, four ``celery worker``
processes on the selection queue (threads pool, each with its own Redis and
HTTP connections), two ``leviathan-dispatcher`` processes on separate
connections creating Jobs on the Kubernetes API fake, and the GitHub fake
serving the targets' backlogs and PR lists. Each round brings a fresh target
and sends it 20 ticks at once; whatever the interleaving, exactly one tick
reserves and dispatches, and exactly one Job exists. Fifty rounds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from celery import Celery
from tests.support.control_plane import running_control_plane
from tests.support.github_fake import GitHubFake
from tests.support.k8s_fake import KubernetesFake
from tests.support.scheduler_stack import BIN, Proc, celery_processes
from tests.support.servers import RedisServer, UvicornThread, wait_for

from leviathan_adapters import slots
from leviathan_adapters.celery_config import celery_settings
from leviathan_core.constants import (
    BACKLOG_PATH,
    LABEL_TARGET,
    QUEUE_SCHEDULER,
    TASK_SELECT_CYCLE,
)

TOKEN = "scale-caps-token"
NAMESPACE = "leviathan"
ROUNDS = 50
TICKS = 20
WORKERS = 4
BACKLOG = (
    b"tasks:\n  - id: only\n    title: The one task\n    ready: true\n"
    b"    allowed_paths: [docs/a.md]\n"
)


@dataclass
class Fleet:
    config_dir: Path
    github: GitHubFake
    github_url: str
    cp_url: str
    redis_url: str
    k8s: KubernetesFake
    sender: Celery
    dispatch_logs: list[Path]

    def add_target(self, name: str) -> None:
        self.github.put_file(f"fleet/{name}", "main", BACKLOG_PATH, BACKLOG)
        data = {
            "target_id": name,
            "target_repo_url": f"https://github.com/fleet/{name}",
            "github_api_url": self.github_url,
            "control_plane_url": self.cp_url,
            "executor": "kubernetes",
            "worker_namespace": NAMESPACE,
        }
        (self.config_dir / f"{name}.yaml").write_text(yaml.safe_dump(data))


@pytest.fixture
def fleet(redis_server: RedisServer, tmp_path: Path) -> Iterator[Fleet]:
    redis_url = f"redis://127.0.0.1:{redis_server.port}/6"
    redis.Redis.from_url(redis_url).flushdb()
    config_dir = tmp_path / "targets"
    config_dir.mkdir()
    github = GitHubFake()
    with (
        KubernetesFake() as k8s,
        UvicornThread(github.app) as api,
        running_control_plane(tmp_path / "cp", token=TOKEN) as cp,
    ):
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(k8s.kubeconfig(NAMESPACE)))
        fleet = Fleet(config_dir, github, api.url, cp.url, redis_url, k8s, Celery(), [])
        fleet.add_target("seed")  # beat and workers refuse an empty directory
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LEVIATHAN_", "KUBERNETES_")) and k != "GITHUB_TOKEN"
        } | {
            "LEVIATHAN_CONFIG": str(config_dir),
            "LEVIATHAN_REDIS_URL": redis_url,
            "LEVIATHAN_CONTROL_PLANE_URL": cp.url,
            "LEVIATHAN_CONTROL_PLANE_TOKEN": TOKEN,
            "LEVIATHAN_DATA_DIR": str(tmp_path / "data"),
            "KUBECONFIG": str(kubeconfig),
            "GITHUB_TOKEN": "ghp_scale_caps",
            "HOME": str(tmp_path),
            "PYTHONUNBUFFERED": "1",
        }
        procs = []
        for i in range(WORKERS):
            argv = [str(BIN / "celery"), "-A", "leviathan_scheduler.celery_app", "worker"]
            argv += ["-Q", QUEUE_SCHEDULER, "--pool", "threads", "--concurrency", "8"]
            argv += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
            argv += ["-n", f"select{i}-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO"]
            procs.append(Proc(argv, tmp_path / f"select-{i}.log", " ready."))
        for i in range(2):
            argv = [str(BIN / "leviathan-dispatcher")]
            argv += ["--hostname", f"dispatch{i}-{uuid.uuid4().hex[:6]}@%h"]
            procs.append(Proc(argv, tmp_path / f"dispatch-{i}.log", " ready."))
            fleet.dispatch_logs.append(tmp_path / f"dispatch-{i}.log")
        fleet.sender.conf.update(celery_settings(redis_url))
        with celery_processes(procs, env, tmp_path) as started:
            yield fleet
            assert all(p.poll() is None for p in started)
        fleet.sender.close()


def jobs_for(k8s: KubernetesFake, target: str) -> list[Any]:
    return [
        job
        for (namespace, _), job in k8s.jobs.items()
        if namespace == NAMESPACE and job["metadata"].get("labels", {}).get(LABEL_TARGET) == target
    ]


def test_twenty_concurrent_ticks_on_four_processes_reserve_once_fifty_times(fleet: Fleet) -> None:
    client = redis.Redis.from_url(fleet.redis_url)
    for number in range(ROUNDS):
        target = f"round-{number:02d}"
        fleet.add_target(target)
        ticks = [
            fleet.sender.send_task(TASK_SELECT_CYCLE, args=[target], queue=QUEUE_SCHEDULER)
            for _ in range(TICKS)
        ]
        outcomes = [t.get(timeout=120) for t in ticks]
        statuses = sorted(o["status"] for o in outcomes)
        dispatched = [o for o in outcomes if o["status"] == "dispatched"]
        assert len(dispatched) == 1, (target, statuses)
        refusals = {o["reason"] for o in outcomes if o["status"] != "dispatched"}
        caps = {"cycle_locked", "max_running_attempts", "max_open_prs", "attempt_running"}
        assert refusals <= caps, refusals
        held = slots.holders(client, target)
        assert list(held.running) == [dispatched[0]["attempt_id"]]
        assert list(held.pr) == [dispatched[0]["attempt_id"]]
        wait_for(lambda t=target: jobs_for(fleet.k8s, t), f"the Job of {target}")
        assert len(jobs_for(fleet.k8s, target)) == 1
    # Both dispatchers took part: separate connections, one queue.
    assert all("Worker job submitted" in log.read_text() for log in fleet.dispatch_logs)
