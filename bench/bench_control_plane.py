"""Control plane: batched ingest rate and read latency as the log grows.

- Ingest: one httpx client posting batches of 1,000 events to a real uvicorn
  server, on SQLite and on PostgreSQL (a throwaway database on the server at
  LEVIATHAN_TEST_POSTGRES_URL; the rows are left out when none answers).
- Reads: p99 of ``/v1/graph/summary`` and ``/v1/targets/{id}/state`` with
  1,000 stored events and again with LEVIATHAN_BENCH_CP_EVENTS (default
  100,000) stored events on SQLite, and the ratio large/small (issue target:
  at most 2). The history is realistic: 20 targets, 50 tasks each, attempt
  lifecycles with PRs opened and closed, failures and breaker resets. The
  large log is written through the store (the same code path as HTTP, without
  the HTTP hop) so that it fits in the benchmark's time.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from tests.support.postgres import throwaway_database, unreachable_reason
from tests.support.servers import free_port, wait_for_port

from bench.rows import row
from leviathan_control_plane.app import create_app, freeze_startup_heap
from leviathan_control_plane.log.database import make_engine, migrate
from leviathan_control_plane.log.store import EventStore
from leviathan_control_plane.settings import ControlPlaneSettings
from leviathan_core.events import Event, EventType, new_event

TOKEN = "bench-token"
BATCH = 1000
INGEST_EVENTS = 20_000
SMALL = 1_000
LARGE = int(os.environ.get("LEVIATHAN_BENCH_CP_EVENTS", "100000"))
READS = 400
TARGETS = [f"target-{n:02d}" for n in range(20)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def lifecycle(n: int) -> list[Event]:
    """Attempt ``n``: created, started, then a PR and success, or a failure and reset."""
    target = TARGETS[n % len(TARGETS)]
    attempt, task = f"{target}-a{n}", f"task-{(n // len(TARGETS)) % 50}"
    common: dict[str, Any] = {
        "target_id": target,
        "actor": "bench",
        "occurred_at": T0 + timedelta(seconds=n),
        "fence": n,
    }
    events = [
        new_event(
            EventType.ATTEMPT_CREATED,
            attempt_id=attempt,
            task_id=task,
            payload={"attempt_number": 1},
            **common,
        ),
        new_event(EventType.ATTEMPT_STARTED, attempt_id=attempt, **common),
    ]
    if n % 3:
        pr = {
            "pr_number": n + 1,
            "pr_url": f"https://github.com/o/r/pull/{n + 1}",
            "branch": f"agent/backlog-propose-{attempt}",
        }
        events += [
            new_event(EventType.PR_CREATED, attempt_id=attempt, payload=pr, **common),
            new_event(
                EventType.ATTEMPT_SUCCEEDED,
                attempt_id=attempt,
                payload={"commit": "c0ffee"},
                **common,
            ),
            new_event(
                EventType.PR_CLOSED,
                payload={"pr_number": n + 1},
                event_id=f"close-{attempt}",
                **common,
            ),
        ]
    else:
        events += [
            new_event(
                EventType.ATTEMPT_FAILED,
                attempt_id=attempt,
                payload={"reason": "no_changes", "message": "no diff"},
                **common,
            ),
            new_event(
                EventType.BREAKER_RESET,
                payload={"reason": "bench"},
                event_id=f"reset-{attempt}",
                **common,
            ),
        ]
    return events


def history() -> Iterator[Event]:
    """An endless, deterministic stream of attempt lifecycles across the targets."""
    n = 0
    while True:
        yield from lifecycle(n)
        n += 1


def take(stream: Iterator[Event], count: int) -> list[Event]:
    return [next(stream) for _ in range(count)]


def _serve(settings: ControlPlaneSettings, port: int) -> None:
    app = create_app(settings)
    freeze_startup_heap()  # as ``leviathan-control-plane serve`` does
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def server_process(settings: ControlPlaneSettings) -> Iterator[httpx.Client]:
    """The control plane in its own (forked) process, as in production: the client
    and the server do not share one interpreter lock."""
    port = free_port()
    child = multiprocessing.get_context("fork").Process(
        target=_serve, args=(settings, port), daemon=True
    )
    child.start()
    try:
        wait_for_port(port, 120)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=120,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        ) as client:
            yield client
    finally:
        child.terminate()
        child.join(30)


def settings_for(directory: Path, database_url: str | None) -> ControlPlaneSettings:
    return ControlPlaneSettings(
        control_plane_token=TOKEN,
        data_dir=str(directory),
        database_url=database_url,
        log_level="WARNING",
    )


def ingest_rate(database_url: str | None, directory: Path) -> float:
    stream = history()
    bodies = [
        json.dumps({"events": [e.wire() for e in take(stream, BATCH)]}).encode()
        for _ in range(INGEST_EVENTS // BATCH)
    ]
    with server_process(settings_for(directory, database_url)) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/events", content=body)
            assert response.status_code == 201, response.text
        elapsed = time.perf_counter() - started
    return INGEST_EVENTS / elapsed


def fill(directory: Path, count: int) -> ControlPlaneSettings:
    """A SQLite log of ``count`` events, written through the store in large batches."""
    settings = settings_for(directory, None)
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)
    store, stream, stored = EventStore(engine), history(), 0
    while stored < count:
        chunk = min(5_000, count - stored)
        store.append(take(stream, chunk))
        stored += chunk
    engine.dispose()
    return settings


def timed_get(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def read_latency(directory: Path) -> list[dict[str, Any]]:
    """Both logs are served at once and read alternately, so a load spike on this
    shared machine hits both sizes alike instead of skewing their ratio."""
    small = fill(directory / "small", SMALL)
    large = fill(directory / "large", LARGE)
    paths = {"summary": "/v1/graph/summary", "state": f"/v1/targets/{TARGETS[3]}/state"}
    times: dict[tuple[str, int], list[float]] = {(n, c): [] for n in paths for c in (SMALL, LARGE)}
    with server_process(small) as few, server_process(large) as many:
        for _ in range(20):  # warm connections and caches first
            for path in paths.values():
                timed_get(few, path), timed_get(many, path)
        for _ in range(READS):
            for name, path in paths.items():
                times[(name, SMALL)].append(timed_get(few, path))
                times[(name, LARGE)].append(timed_get(many, path))
    rows: list[dict[str, Any]] = []
    for name, path in paths.items():
        label = f"GET {path.replace(TARGETS[3], '{id}')}"
        p99 = {count: percentile(times[(name, count)], 0.99) for count in (SMALL, LARGE)}
        rows.append(row(f"{label} p99 at {SMALL:,} events", p99[SMALL], "ms", 50))
        rows.append(row(f"{label} p99 at {LARGE:,} events", p99[LARGE], "ms", 50))
        rows.append(
            row(f"{label} p50 at {LARGE:,} events", percentile(times[(name, LARGE)], 0.5), "ms")
        )
        rows.append(
            row(f"{label} p99 ratio {LARGE:,}/{SMALL:,} events", p99[LARGE] / p99[SMALL], "x", 2)
        )
    return rows


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cp-") as tmp:
        root = Path(tmp)
        rate = ingest_rate(None, root / "ingest-sqlite")
        rows.append(
            row(
                "control plane ingest, SQLite, batches of 1,000",
                rate,
                "events/s",
                2000,
                lower_is_better=False,
            )
        )
        reason = unreachable_reason()
        if reason is None:
            with throwaway_database("leviathan_bench") as url:
                rate = ingest_rate(url, root / "ingest-pg")
            rows.append(
                row(
                    "control plane ingest, PostgreSQL, batches of 1,000",
                    rate,
                    "events/s",
                    5000,
                    lower_is_better=False,
                )
            )
        else:
            print(f"  skipped PostgreSQL ingest: {reason}", file=sys.stderr)
        rows += read_latency(root / "reads")
    return rows


if __name__ == "__main__":
    for item in run():
        print(item)
