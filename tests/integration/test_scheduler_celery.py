"""The scheduler as it runs: real Celery worker and beat processes, the real
dispatcher process, redis-server, the control plane and the Kubernetes API fake."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import yaml
from tests.support.k8s_fake import KubernetesFake
from tests.support.scheduler_stack import (
    BIN,
    Proc,
    SchedulerStack,
    celery_processes,
    scheduler_stack,
    wait_for,
    worker_argv,
)
from tests.support.servers import RedisServer

from leviathan_core.constants import QUEUE_DISPATCH, QUEUE_SCHEDULER, TASK_SELECT_CYCLE
from leviathan_core.job_naming import job_name

NAMESPACE = "leviathan"
SCHEDULER_APP = "leviathan_scheduler.celery_app"


@dataclass
class Running:
    stack: SchedulerStack
    k8s: KubernetesFake
    env: dict[str, str]
    tmp: Path

    def jobs(self, target: str) -> list[str]:
        prefix = "leviathan-worker-attempt-fix-links-"
        return [
            name
            for (ns, name), job in self.k8s.jobs.items()
            if ns == NAMESPACE
            and name.startswith(prefix)
            and job["metadata"]["labels"].get("leviathan.dev/target") == target
        ]


@pytest.fixture(scope="module")
def running(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """4 scheduler worker processes (5 threads each) and 1 dispatcher process."""
    tmp = tmp_path_factory.mktemp("scheduler-celery")
    redis_url = f"redis://127.0.0.1:{redis_server.port}/7"
    redis.Redis.from_url(redis_url).flushdb()
    with ExitStack() as stack_of:
        k8s = stack_of.enter_context(KubernetesFake())
        stack = stack_of.enter_context(
            scheduler_stack(tmp, redis_url, executor="kubernetes", worker_namespace=NAMESPACE)
        )
        stack.write_config(
            "beta", executor="kubernetes", worker_namespace=NAMESPACE, reconcile_interval_seconds=1
        )
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(k8s.kubeconfig(NAMESPACE)))
        env = stack.env(KUBECONFIG=str(kubeconfig), LEVIATHAN_SCHEDULE_SECONDS="1")
        run = uuid.uuid4().hex[:6]
        procs = [
            Proc(
                worker_argv(SCHEDULER_APP, QUEUE_SCHEDULER, f"sched{n}-{run}", concurrency=5),
                tmp / f"scheduler-{n}.log",
                " ready.",
            )
            for n in range(4)
        ]
        dispatcher = [str(BIN / "leviathan-dispatcher"), "--hostname", f"dispatch-{run}@%h"]
        procs.append(Proc(dispatcher, tmp / "dispatch.log", " ready."))
        stack_of.enter_context(celery_processes(procs, env, tmp))
        yield Running(stack, k8s, env, tmp)


def test_twenty_cycles_at_once_from_four_processes_dispatch_one_attempt(
    running: Running,
) -> None:
    sender = running.stack.sender()
    results = [
        sender.send_task(TASK_SELECT_CYCLE, args=["radix"], queue=QUEUE_SCHEDULER)
        for _ in range(20)
    ]
    outcomes = [r.get(timeout=120) for r in results]
    statuses = Counter(o["status"] for o in outcomes)
    assert statuses["dispatched"] == 1, outcomes
    assert sum(statuses.values()) == 20
    assert set(statuses) <= {"dispatched", "locked", "skipped"}
    (winner,) = [o for o in outcomes if o["status"] == "dispatched"]
    assert {o["reason"] for o in outcomes if o["status"] == "skipped"} <= {
        "max_open_prs",
        "max_running_attempts",
    }
    created = running.stack.events("attempt.created")
    assert [e["attempt_id"] for e in created] == [winner["attempt_id"]]
    # The dispatcher process turns the one message into the one Job.
    name = job_name(winner["attempt_id"])
    wait_for(lambda: running.k8s.job(NAMESPACE, name), f"Job {name}")
    assert running.jobs("radix") == [name]
    wait_for(lambda: running.stack.events("attempt.dispatched"), "attempt.dispatched")
    broker = redis.Redis.from_url(running.stack.redis_url)
    assert broker.llen(QUEUE_DISPATCH) == 0


def test_a_beat_tick_reaches_a_created_job(running: Running) -> None:
    beat = [
        str(BIN / "celery"),
        "-A",
        SCHEDULER_APP,
        "beat",
        "--loglevel=INFO",
        "-s",
        str(running.tmp / "beat-schedule"),
        "--pidfile=",
    ]
    log = running.tmp / "beat.log"
    with celery_processes([Proc(beat, log, "beat: Starting...")], running.env, running.tmp):
        names = wait_for(lambda: running.jobs("beta"), "a Job for target beta", timeout=120)
        # Later ticks see the running attempt and skip; still exactly one Job.
        wait_for(
            lambda: len(running.stack.events("scheduler.cycle", target="beta")) >= 3,
            "more beat ticks",
        )
    assert len(names) == 1
    assert running.jobs("beta") == names
    text = log.read_text()
    assert "Sending due task select-cycle:beta (leviathan.scheduler.select_cycle)" in text
    assert "Sending due task reconcile:beta" in text
    cycles = running.stack.events("scheduler.cycle", target="beta")
    assert [c["payload"]["action"] for c in cycles].count("dispatch") == 1
