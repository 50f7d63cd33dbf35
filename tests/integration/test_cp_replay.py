"""Replaying the log into an empty database gives the same projections and chain."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.control_plane import ControlPlane, running_control_plane
from tests.support.postgres import require_postgres, throwaway_database

from leviathan_core.events import Event, EventType, new_event

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TARGETS = ["alpha", "beta", "gamma"]


def stream(seed: int = 7) -> list[Event]:
    """A varied but deterministic history: lifecycles, PRs, pauses, resets."""
    rng = random.Random(seed)
    events: list[Event] = []
    clock = 0

    def add(kind: EventType, target: str, attempt: str | None = None, **kw: Any) -> None:
        nonlocal clock
        clock += 1
        events.append(
            new_event(
                kind,
                target_id=target,
                actor="replay",
                attempt_id=attempt,
                occurred_at=T0 + timedelta(seconds=clock),
                **kw,
            )
        )

    for n in range(60):
        target = rng.choice(TARGETS)
        attempt, task = f"{target}-a{n}", f"task-{rng.randrange(8)}"
        add(
            EventType.ATTEMPT_CREATED,
            target,
            attempt,
            task_id=task,
            fence=n,
            payload={"attempt_number": 1 + n % 2},
        )
        add(EventType.ATTEMPT_DISPATCHED, target, attempt, fence=n)
        add(EventType.ATTEMPT_STARTED, target, attempt, fence=n)
        if rng.random() < 0.5:
            pr = {
                "pr_number": n + 1,
                "pr_url": f"https://github.com/o/{target}/pull/{n + 1}",
                "branch": f"agent/backlog-propose-{attempt}",
            }
            add(EventType.PR_CREATED, target, attempt, fence=n, payload=pr)
            add(EventType.ATTEMPT_SUCCEEDED, target, attempt, fence=n, payload={"commit": "c0ffee"})
            if rng.random() < 0.5:
                add(
                    EventType.PR_CLOSED,
                    target,
                    payload={"pr_number": n + 1},
                    event_id=f"close-{target}-{n}",
                )
        elif rng.random() < 0.8:
            add(
                EventType.ATTEMPT_FAILED,
                target,
                attempt,
                fence=n,
                payload={
                    "reason": rng.choice(["no_changes", "timeout", "job_failed"]),
                    "message": f"attempt {n} failed",
                },
            )
        if n % 17 == 0:
            add(
                EventType.TARGET_PAUSED,
                target,
                payload={"reason": f"freeze {n}"},
                event_id=f"pause-{n}",
            )
        if n % 19 == 0:
            add(EventType.TARGET_RESUMED, target, event_id=f"resume-{n}")
        if n % 13 == 0:
            add(
                EventType.BREAKER_RESET, target, payload={"reason": "manual"}, event_id=f"reset-{n}"
            )
    return events


def snapshot(client: httpx.Client) -> dict[str, Any]:
    """Everything projections answer, plus every target's chain."""
    chains = {}
    for target in TARGETS:
        items, cursor = [], None
        while True:
            params: dict[str, Any] = {"target": target, "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/events", params=params).json()
            items += [
                (e["event"]["event_id"], e["sequence"], e["prev_hash"], e["hash"])
                for e in page["events"]
            ]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        chains[target] = items
        assert client.get("/v1/events/verify", params={"target_id": target}).json()["ok"]
    return {
        "states": {t: client.get(f"/v1/targets/{t}/state").json() for t in TARGETS},
        "targets": client.get("/v1/targets").json(),
        "summary": client.get("/v1/graph/summary").json(),
        "attempts": client.get("/v1/attempts", params={"limit": 500}).json(),
        "failures": client.get("/v1/failures", params={"limit": 500}).json(),
        "chains": chains,
    }


def export(client: httpx.Client) -> list[dict[str, Any]]:
    """The whole log in arrival order, as the envelopes that were posted."""
    out, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/events", params=params).json()
        out += [e["event"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


@pytest.fixture(params=["sqlite", "postgres"])
def second_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    require_postgres()
    with throwaway_database() as url:
        yield url


def client_for(plane: ControlPlane) -> httpx.Client:
    return httpx.Client(
        base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}, timeout=30
    )


def test_replay_gives_identical_projections(tmp_path: Path, second_database: str | None) -> None:
    events = [e.wire() for e in stream()]
    with ExitStack() as stack:
        first = stack.enter_context(running_control_plane(tmp_path / "first"))
        second = stack.enter_context(
            running_control_plane(tmp_path / "second", database_url=second_database)
        )
        a, b = stack.enter_context(client_for(first)), stack.enter_context(client_for(second))
        for start in range(0, len(events), 25):  # small batches, with resends in between
            assert a.post("/v1/events", json={"events": events[start : start + 25]}).is_success
            assert a.post("/v1/events", json=events[start]).status_code == 200
        original = snapshot(a)
        log = export(a)
        assert [e["event_id"] for e in log] == [e["event_id"] for e in events]
        assert b.post("/v1/events", json={"events": log[:200]}).status_code == 201
        assert b.post("/v1/events", json={"events": log[200:]}).status_code == 201
        replayed = snapshot(b)
        assert b.post("/v1/events", json={"events": log[:300]}).status_code == 200
        assert snapshot(b) == replayed
    assert replayed == original
    assert original["summary"]["events_total"] == len(events)
    assert len(events) > 250
    assert sum(original["summary"]["attempts_by_status"].values()) == 60
