"""Parallel writers keep each target's sequence gap-free and its chain intact."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tests.support.control_plane import ControlPlane, running_control_plane
from tests.support.postgres import require_postgres, throwaway_database

from leviathan_core.events import Event, EventType, new_event

WRITERS = 8
BATCHES = 6
PER_BATCH = 10
TARGETS = ["left", "right"]
T0 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def plane(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlPlane]:
    if request.param == "sqlite":
        with running_control_plane(tmp_path) as cp:
            yield cp
        return
    require_postgres()
    with throwaway_database() as url, running_control_plane(tmp_path, database_url=url) as cp:
        yield cp


def batch(writer: int, number: int) -> list[Event]:
    """Events of one writer's batch; both targets in one batch, and a shared event."""
    events = []
    for i in range(PER_BATCH):
        attempt = f"w{writer}-b{number}-{i}"
        events.append(
            new_event(
                EventType.ATTEMPT_CREATED,
                target_id=TARGETS[(writer + i) % 2],
                actor=f"w{writer}",
                attempt_id=attempt,
                task_id=f"task-{i}",
                occurred_at=T0 + timedelta(seconds=i),
            )
        )
    # Every writer also posts the same event: exactly one of them may create it.
    events.append(
        new_event(
            EventType.SCHEDULER_CYCLE,
            target_id="left",
            actor="shared",
            event_id=f"shared-{number}",
            occurred_at=T0,
        )
    )
    return events


def post_all(plane: ControlPlane, writer: int) -> list[str]:
    statuses = []
    with httpx.Client(
        base_url=plane.url, timeout=60, headers={"Authorization": f"Bearer {plane.token}"}
    ) as client:
        for number in range(BATCHES):
            body = {"events": [e.wire() for e in batch(writer, number)]}
            response = client.post("/v1/events", json=body)
            assert response.status_code in (200, 201), response.text
            statuses += [r["status"] for r in response.json()["results"]]
    return statuses


def test_parallel_posts_keep_sequence_and_chain(plane: ControlPlane) -> None:
    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(lambda w: post_all(plane, w), range(WRITERS)))
    statuses = [s for one in results for s in one]
    attempts = WRITERS * BATCHES * PER_BATCH
    assert statuses.count("created") == attempts + BATCHES
    assert statuses.count("duplicate") == (WRITERS - 1) * BATCHES
    with httpx.Client(
        base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}, timeout=60
    ) as client:
        total = 0
        for target in TARGETS:
            report = client.get("/v1/events/verify", params={"target_id": target}).json()
            assert report["ok"], report
            assert report["events_checked"] == report["last_sequence"]
            total += report["last_sequence"]
            state = client.get(f"/v1/targets/{target}/state").json()
            assert state["last_sequence"] == report["last_sequence"]
            assert sum(state["attempts_per_task"].values()) == len(state["running_attempts"])
        assert total == attempts + BATCHES
        summary = client.get("/v1/graph/summary").json()
        assert summary["events_total"] == total
        assert summary["attempts_by_status"] == {"created": attempts}
