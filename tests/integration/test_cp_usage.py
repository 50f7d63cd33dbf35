"""Model tokens on the real control plane: attempt.usage in, day sums out.

Reports are posted over two UTC days; the target state answers one day's sum
(``?day=``) and ``GET /v1/targets/{id}/usage`` each day of a window, by model.
Run on SQLite and, when a server answers, on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.control_plane import ControlPlane, running_control_plane
from tests.support.postgres import require_postgres, throwaway_database

from leviathan_core.events import EventType, new_event
from leviathan_core.usage import TokenUsage

TARGET = "radix"


@pytest.fixture(params=["sqlite", "postgresql"])
def cp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[httpx.Client]:
    with (
        _database(request.param) as url,
        running_control_plane(tmp_path / "cp", database_url=url) as plane,
        _client(plane) as client,
    ):
        yield client


def _database(kind: str) -> AbstractContextManager[str | None]:
    """None (the default SQLite file) or a throwaway PostgreSQL database's URL."""
    if kind == "sqlite":
        return nullcontext(None)
    require_postgres()
    return throwaway_database()


def _client(plane: ControlPlane) -> httpx.Client:
    return httpx.Client(
        base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}, timeout=10
    )


def usage_event(
    attempt: str, at: datetime, report: TokenUsage, n: int, target: str = TARGET
) -> dict[str, Any]:
    return new_event(
        EventType.ATTEMPT_USAGE,
        target_id=target,
        actor="worker",
        attempt_id=attempt,
        event_id=f"{attempt}:attempt.usage:{n}",
        occurred_at=at,
        payload=report.payload(),
    ).wire()


def test_usage_adds_up_per_utc_day_and_model(cp: httpx.Client) -> None:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    midnight = datetime.combine(today, time.min, UTC)
    events = [
        usage_event(
            "attempt-a", midnight - timedelta(seconds=1), TokenUsage("gpt-4o", 100, 20, 120), 1
        ),
        usage_event("attempt-a", midnight - timedelta(hours=3), TokenUsage("small", 5, 5, 10), 2),
        usage_event("attempt-b", midnight, TokenUsage("gpt-4o", 1000, 200, 1200), 1),
        usage_event("attempt-b", midnight + timedelta(minutes=5), TokenUsage("gpt-4o", 1, 2, 0), 2),
        usage_event("attempt-c", midnight, TokenUsage("gpt-4o", 7, 7, 14), 1, target="other"),
    ]
    assert cp.post("/v1/events", json={"events": events}).status_code == 201
    # A repeat of the batch is a duplicate: nothing is counted twice.
    assert cp.post("/v1/events", json={"events": events}).status_code == 200

    def day_sum(day: date) -> int:
        state = cp.get(f"/v1/targets/{TARGET}/state", params={"day": day.isoformat()}).json()
        assert state["usage_day"] == day.isoformat()
        return int(state["tokens_today"])

    assert (day_sum(yesterday), day_sum(today)) == (130, 1203)
    assert day_sum(today + timedelta(days=1)) == 0

    answer = cp.get(f"/v1/targets/{TARGET}/usage", params={"days": 3})
    assert answer.status_code == 200
    body = answer.json()
    until = date.fromisoformat(body["until"])
    assert until in (today, today + timedelta(days=1))  # midnight may pass meanwhile
    assert [d["day"] for d in body["days"]] == [
        (until - timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]
    by_day = {d["day"]: d for d in body["days"]}
    old = by_day[yesterday.isoformat()]
    assert (old["prompt_tokens"], old["completion_tokens"], old["total_tokens"]) == (105, 25, 130)
    assert [(m["model"], m["total_tokens"], m["reports"]) for m in old["models"]] == [
        ("gpt-4o", 120, 1),
        ("small", 10, 1),
    ]
    if until == today:
        new = by_day[today.isoformat()]
        assert new["total_tokens"] == 1203  # the report with total 0 counts 1 + 2
        assert new["models"] == [
            {
                "model": "gpt-4o",
                "prompt_tokens": 1001,
                "completion_tokens": 202,
                "total_tokens": 1203,
                "reports": 2,
            }
        ]
    one = cp.get(f"/v1/targets/{TARGET}/usage", params={"days": 1}).json()
    assert len(one["days"]) == 1 and one["since"] == one["until"]
    unknown = cp.get("/v1/targets/nobody/usage").json()
    assert len(unknown["days"]) == 7 and all(d["total_tokens"] == 0 for d in unknown["days"])


def test_usage_after_the_attempt_ended_still_counts(cp: httpx.Client) -> None:
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    created = new_event(
        EventType.ATTEMPT_CREATED, target_id=TARGET, actor="s", attempt_id="a1", occurred_at=at
    )
    ended = new_event(
        EventType.ATTEMPT_FAILED,
        target_id=TARGET,
        actor="r",
        attempt_id="a1",
        occurred_at=at + timedelta(minutes=30),
        payload={"reason": "timeout", "message": "too slow"},
    )
    for event in (created, ended):
        assert cp.post("/v1/events", json=event.wire()).status_code == 201
    late = usage_event("a1", at + timedelta(minutes=20), TokenUsage("gpt-4o", 10, 10, 20), 1)
    assert cp.post("/v1/events", json=late).status_code == 201
    state = cp.get(f"/v1/targets/{TARGET}/state", params={"day": "2026-05-01"}).json()
    assert state["tokens_today"] == 20 and state["consecutive_failures"] == 1
    timeline = cp.get("/v1/attempts/a1").json()
    assert timeline["attempt"]["status"] == "failed"
    assert [e["event"]["type"] for e in timeline["events"]][-1] == "attempt.usage"


GOOD = {"model": "gpt-4o", "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({}, "payload is missing usage"),
        ({"usage": [GOOD]}, "payload.usage must be an object"),
        ({"usage": {**GOOD, "model": 4}}, "payload.usage.model"),
        ({"usage": {**GOOD, "prompt_tokens": -1}}, "payload.usage.prompt_tokens"),
        ({"usage": {**GOOD, "completion_tokens": "2"}}, "payload.usage.completion_tokens"),
        ({"usage": {**GOOD, "total_tokens": None}}, "payload.usage.total_tokens"),
        ({"usage": {**GOOD, "total_tokens": 2**31}}, "payload.usage.total_tokens"),
    ],
)
def test_bad_usage_is_a_422_naming_the_field(
    cp: httpx.Client, payload: dict[str, Any], words: str
) -> None:
    event = {
        "event_id": "a1:attempt.usage",
        "type": "attempt.usage",
        "target_id": TARGET,
        "attempt_id": "a1",
        "occurred_at": "2026-05-01T00:00:00Z",
        "actor": "worker",
        "payload": payload,
    }
    answer = cp.post("/v1/events", json={"events": [event]})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert words in body["detail"] and body["index"] == 0
    assert body["errors"][0]["loc"][:3] == ["body", "events", 0]
    without_attempt = {k: v for k, v in event.items() if k != "attempt_id"}
    without_attempt["payload"] = {"usage": GOOD}
    assert cp.post("/v1/events", json=without_attempt).status_code == 422
    assert cp.get(f"/v1/targets/{TARGET}/usage").json()["days"][-1]["total_tokens"] == 0


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (f"/v1/targets/{TARGET}/usage", {"days": 0}, 422),
        (f"/v1/targets/{TARGET}/usage", {"days": 367}, 422),
        (f"/v1/targets/{TARGET}/usage", {"day": 1}, 422),
        ("/v1/targets/Not_A_Target/usage", {}, 422),
        (f"/v1/targets/{TARGET}/state", {"day": "2026-02-30"}, 422),
        (f"/v1/targets/{TARGET}/state", {"day": "1767225600"}, 422),
    ],
)
def test_usage_reads_refuse_bad_queries(
    cp: httpx.Client, path: str, params: dict[str, Any], status: int
) -> None:
    answer = cp.get(path, params=params)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"detail", "errors", "index", "event_id"}


def test_usage_needs_the_token(cp: httpx.Client) -> None:
    answer = cp.get(f"/v1/targets/{TARGET}/usage", headers={"Authorization": ""})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
