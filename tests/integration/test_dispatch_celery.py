"""The dispatcher end to end: real redis-server, a real ``leviathan-dispatcher`` worker
process, the Kubernetes API fake and the real control plane under uvicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from celery import Celery
from tests.support.control_plane import running_control_plane
from tests.support.k8s_fake import KubernetesFake
from tests.support.messages import dispatch_message, wire
from tests.support.servers import RedisServer, wait_for

from leviathan_adapters.celery_config import celery_settings
from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_core.constants import QUEUE_DISPATCH, TASK_START_ATTEMPT
from leviathan_core.events import Event
from leviathan_core.job_naming import job_name
from leviathan_core.messages import DispatchMessage

TOKEN = "dispatch-test-token"
NAMESPACE = "leviathan"
RESULT_TIMEOUT = 90


@dataclass
class Stack:
    redis_url: str
    k8s: KubernetesFake
    control_plane_url: str
    log: Path
    sender: Celery

    def send(self, body: Any) -> Any:
        return self.sender.send_task(TASK_START_ATTEMPT, args=[body])

    def events(self, attempt_id: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.control_plane_url}/v1/events",
            params={"attempt": attempt_id},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        response.raise_for_status()
        return [stored["event"] for stored in response.json()["events"]]

    def announce(self, message: DispatchMessage) -> None:
        """Post attempt.created, as the scheduler does before sending the message."""
        with ControlPlaneClient(self.control_plane_url, TOKEN) as client:
            client.post_event(Event.model_validate(message.created_event))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def write_files(tmp: Path, k8s: KubernetesFake, control_plane_url: str) -> dict[str, str]:
    config = tmp / "autonomy" / "radix.yaml"
    config.parent.mkdir()
    config.write_text(
        yaml.safe_dump(
            {
                "target_id": "radix",
                "target_repo_url": "file:///srv/radix.git",
                "control_plane_url": control_plane_url,
                "worker_namespace": NAMESPACE,
                "executor": "kubernetes",
            }
        )
    )
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(k8s.kubeconfig(NAMESPACE)))
    return {"LEVIATHAN_CONFIG": str(config.parent), "KUBECONFIG": str(kubeconfig)}


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("dispatch")
    redis_url = f"redis://127.0.0.1:{redis_server.port}/4"
    redis.Redis.from_url(redis_url).flushdb()
    with (
        KubernetesFake() as k8s,
        running_control_plane(tmp / "control-plane", token=TOKEN) as cp,
    ):
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LEVIATHAN_", "KUBERNETES_")) and key != "GITHUB_TOKEN"
        }
        env |= write_files(tmp, k8s, cp.url)
        env |= {
            "LEVIATHAN_REDIS_URL": redis_url,
            "LEVIATHAN_CONTROL_PLANE_URL": cp.url,
            "LEVIATHAN_CONTROL_PLANE_TOKEN": TOKEN,
            "LEVIATHAN_DATA_DIR": str(tmp / "data"),
            "HOME": str(tmp),
            "PYTHONUNBUFFERED": "1",
        }
        log = tmp / "dispatcher.log"
        program = Path(sys.executable).parent / "leviathan-dispatcher"
        argv = [str(program), "--hostname", f"dispatch-test-{uuid.uuid4().hex[:6]}@%h"]
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
        sender = Celery("dispatch-test-sender")
        sender.conf.update(celery_settings(redis_url))
        stack = Stack(redis_url, k8s, cp.url, log, sender)
        try:
            wait_for(
                lambda: " ready." in stack.log_text() or proc.poll() is not None,
                "the dispatcher to start",
            )
            assert proc.poll() is None, stack.log_text()
            yield stack
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            sender.close()


def test_the_same_message_twice_creates_one_job(stack: Stack) -> None:
    message = dispatch_message()
    stack.announce(message)
    first, second = stack.send(wire(message)), stack.send(wire(message))
    results = [r.get(timeout=RESULT_TIMEOUT) for r in (first, second)]
    name = job_name(message.attempt_id)
    assert [r["status"] for r in results] == ["started", "duplicate"]
    assert {r["job_name"] for r in results} == {name}
    jobs = [key for key in stack.k8s.jobs if key[1] == name]
    assert jobs == [(NAMESPACE, name)]
    posts = [r for r in stack.k8s.requests_for("POST") if r.body["metadata"]["name"] == name]
    assert len(posts) == 2  # the second answered 409 AlreadyExists
    types = [e["type"] for e in stack.events(message.attempt_id)]
    assert types.count("attempt.dispatched") == 1
    assert f"✓ Worker job submitted: {name}" in stack.log_text()


def test_a_bad_message_is_rejected_once_and_reported(stack: Stack) -> None:
    bad = {**wire(dispatch_message()), "fence": -1}
    rejected = stack.send(bad)
    garbage = stack.send("not a message")
    good = dispatch_message()
    stack.announce(good)
    # One consumer, one queue: once the good message is done, the bad ones were handled.
    assert stack.send(wire(good)).get(timeout=RESULT_TIMEOUT)["status"] == "started"
    failed = wait_for(
        lambda: [e for e in stack.events(bad["attempt_id"]) if e["type"] == "attempt.failed"],
        "attempt.failed for the bad message",
    )
    assert failed[0]["payload"]["reason"] == "dispatch_failed"
    assert "field 'fence'" in failed[0]["payload"]["message"]
    assert stack.k8s.job(NAMESPACE, job_name(bad["attempt_id"])) is None
    log = stack.log_text()
    assert log.count("rejecting dispatch message: invalid dispatch message: field 'fence'") == 1
    assert "must be a JSON object, got str" in log
    # One line per rejected message, not Celery's traceback of an exception.
    assert "Traceback" not in log
    assert "Reject" not in log
    assert rejected.get(timeout=RESULT_TIMEOUT)["status"] == "invalid"
    assert garbage.get(timeout=RESULT_TIMEOUT)["status"] == "invalid"
    assert f"{rejected.id}] retry" not in log and f"{garbage.id}] retry" not in log
    broker = redis.Redis.from_url(stack.redis_url)
    assert broker.llen(QUEUE_DISPATCH) == 0
    assert broker.hlen("unacked") == 0


def test_an_unavailable_api_is_retried_until_the_job_exists(stack: Stack) -> None:
    message = dispatch_message()
    stack.announce(message)
    stack.k8s.inject_error(503, times=1, method="POST")
    result = stack.send(wire(message)).get(timeout=RESULT_TIMEOUT)
    name = job_name(message.attempt_id)
    assert result["status"] == "started"
    posts = [r for r in stack.k8s.requests_for("POST") if r.body["metadata"]["name"] == name]
    assert len(posts) == 2  # 503, then the retry's 201
    assert stack.k8s.job(NAMESPACE, name) is not None
    assert [e["type"] for e in stack.events(message.attempt_id)].count("attempt.dispatched") == 1
