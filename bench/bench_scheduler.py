"""The select cycle: wall time on a big backlog, the naive alternative, tick to Job.

- A cycle on a 10,000-task backlog (one eligible task, last in file order)
  with a warm mirror and parse cache: real redis-server, the real backlog
  source over file://, the local forge; the control plane is the in-memory
  stand-in so no network is timed (issue target: p99 under 300 ms).
- The naive cycle the seed ran: clone the repository each tick, parse, decide;
  and the ratio between the two.
- Tick to Job-create: a tick's cycle runs, its dispatch message goes through
  the real broker (kombu over redis-server) to a consumer that creates the
  Job through the real kubernetes client on the API fake (issue target: p99
  under 1 s with local Redis).
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from kombu.connection import Connection
from kombu.entity import Queue
from tests.support.gitrepo import make_target_repo
from tests.support.k8s_fake import KubernetesFake
from tests.support.scheduler_fakes import FakeControlPlane
from tests.support.servers import RedisServer

from bench.rows import row
from leviathan_adapters import slots
from leviathan_adapters.forge.local import LocalForge
from leviathan_core.backlog import parse_backlog
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import QUEUE_DISPATCH
from leviathan_core.events import EventType, new_event
from leviathan_core.guardrails import Facts, decide
from leviathan_core.messages import DispatchMessage
from leviathan_core.settings import Settings
from leviathan_dispatch.executors.kubernetes import KubernetesExecutor
from leviathan_scheduler.celery_app import create_app
from leviathan_scheduler.cycle import run_cycle
from leviathan_scheduler.deps import CycleDeps
from leviathan_scheduler.runtime import backlog_reader

TASKS = 10_000
CYCLES = 30


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def big_backlog(tasks: int) -> str:
    lines = ["tasks:"]
    for i in range(tasks - 1):
        lines += [
            f"  - id: task-{i}",
            f"    title: Task {i}",
            "    ready: false",
            "    allowed_paths: [docs/]",
        ]
    lines += [
        "  - id: the-one",
        "    title: The eligible one",
        "    ready: true",
        "    allowed_paths: [docs/one.md]",
    ]
    return "\n".join(lines) + "\n"


def finish(deps: CycleDeps, attempt_id: str | None) -> None:
    """End the attempt so the next tick dispatches again."""
    assert attempt_id is not None
    deps.control_plane.post_event(
        new_event(
            EventType.ATTEMPT_SUCCEEDED, target_id="bench", actor="bench", attempt_id=attempt_id
        )
    )
    slots.release_running(deps.redis, "bench", attempt_id)
    slots.release_pr(deps.redis, "bench", attempt_id)


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as raw:
        tmp = Path(raw)
        server = RedisServer(tmp / "redis")
        server.start()
        try:
            return cycle_rows(tmp, server.url) + tick_rows(tmp, server.url)
        finally:
            server.stop()


def make_deps(tmp: Path, redis_url: str, backlog: str, **extra: Any) -> tuple[Any, CycleDeps]:
    repo = make_target_repo(tmp, backlog)
    config = AutonomyConfig(
        target_id="bench",
        target_repo_url=f"file://{repo}",
        forge="local",
        executor="local",
        max_attempts_per_task=10_000,
        **extra,
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, cache_dir=str(tmp / "cache"), data_dir=str(tmp / "data")
    )
    deps = CycleDeps(
        redis=redis.Redis.from_url(redis_url),
        control_plane=FakeControlPlane("bench"),
        forge=LocalForge(repo, tmp / "forge"),
        backlog=backlog_reader(config, settings),
        runs=None,
        send_task=None,
        out=lambda _: None,
    )
    return config, deps


def cycle_rows(tmp: Path, redis_url: str) -> list[dict[str, Any]]:
    text = big_backlog(TASKS)
    config, deps = make_deps(tmp / "cycle", redis_url, text)
    deps.send_task = lambda name, *, args, queue: None  # the broker is timed below
    finish(deps, run_cycle(config, deps).attempt_id)  # warm the mirror and the parse cache
    times = []
    for _ in range(CYCLES):
        started = time.perf_counter()
        outcome = run_cycle(config, deps)
        times.append((time.perf_counter() - started) * 1000)
        finish(deps, outcome.attempt_id)
    repo = str(next((tmp / "cycle").glob("target*.git")))
    naive = []
    for n in range(3):
        started = time.perf_counter()
        dest = tmp / f"naive-{n}"
        subprocess.run(["git", "clone", "--quiet", f"file://{repo}", str(dest)], check=True)
        backlog = parse_backlog((dest / ".leviathan/backlog.yaml").read_bytes())
        decide(config, backlog, Facts())
        naive.append((time.perf_counter() - started) * 1000)
    warm, cold = statistics.median(times), statistics.median(naive)
    return [
        row(f"select cycle, {TASKS} tasks, warm (p50)", warm, "ms"),
        row(f"select cycle, {TASKS} tasks, warm (p99)", p99(times), "ms", 300.0),
        row("naive cycle: clone + parse + decide per tick", cold, "ms"),
        row("select cycle speed-up vs naive clone", cold / warm, "x", None, False),
    ]


def tick_rows(tmp: Path, redis_url: str) -> list[dict[str, Any]]:
    config, deps = make_deps(tmp / "tick", redis_url, big_backlog(2))
    sender = create_app(Settings(_env_file=None, redis_url=redis_url))  # type: ignore[call-arg]
    deps.send_task = sender.send_task
    latencies = []
    with (
        KubernetesFake() as k8s,
        Connection(redis_url) as conn,  # type: ignore[no-untyped-call]
        conn.SimpleQueue(Queue(QUEUE_DISPATCH)) as queue,  # type: ignore[no-untyped-call]
    ):
        executor = KubernetesExecutor(
            config.worker_namespace,
            k8s.batch_api(),
            config,
            control_plane_url="http://cp:8000",
        )
        for n in range(CYCLES + 1):  # the first round opens the connections
            started = time.perf_counter()
            outcome = run_cycle(config, deps)
            message = queue.get(block=True, timeout=10)
            args = message.decode()[0]
            message.ack()
            executor.start(DispatchMessage.model_validate(args[0]))
            if n:
                latencies.append((time.perf_counter() - started) * 1000)
            finish(deps, outcome.attempt_id)
    sender.close()
    return [
        row("tick to Job-create call (p50)", statistics.median(latencies), "ms"),
        row("tick to Job-create call (p99)", p99(latencies), "ms", 1000.0),
    ]
