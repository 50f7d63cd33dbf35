"""The read-only queries behind the dashboard: cycle records, titles, timelines, outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from leviathan_control_plane.log.database import make_engine, migrate
from leviathan_control_plane.log.store import EventStore
from leviathan_control_plane.queries.cycles import (
    cycle_record,
    last_cycle,
    task_titles,
    titles_from,
)
from leviathan_control_plane.queries.timeline import DayOutcomes, by_day, events_of, outcomes
from leviathan_core.events import EventType, new_event

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def test_a_cycle_payload_reads_as_a_record() -> None:
    payload = {
        "action": "skip",
        "reason": "max_open_prs",
        "task_id": None,
        "attempt_id": None,
        "messages": ["open PRs 1/1"],
        "tasks": [
            {"id": "a", "eligible": False, "reasons": ["open_pr_exists"], "messages": []},
            {"id": 3, "eligible": False, "reasons": ["invalid_task"], "messages": ["no id"]},
        ],
        "tasks_total": 60,
        "task_reason_counts": {"open_pr_exists": 1, "invalid_task": 1},
    }
    record = cycle_record("e1", T0, payload)
    assert (record.action, record.reason, record.messages) == (
        "skip",
        "max_open_prs",
        ("open PRs 1/1",),
    )
    assert [t.task_id for t in record.tasks] == ["a", "3"]
    assert record.tasks[0].reasons == ("open_pr_exists",)
    assert record.tasks_total == 60
    assert record.task_reason_counts == {"open_pr_exists": 1, "invalid_task": 1}


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "text",
        [],
        {"action": 3, "reason": ["x"], "tasks": "many", "messages": "one"},
        {"tasks": [None, {"id": None}, {"id": True}, {"eligible": True}], "tasks_total": True},
        {"task_reason_counts": {"a": "1", "b": False}},
    ],
)
def test_a_payload_of_any_shape_reads_without_failing(payload: Any) -> None:
    record = cycle_record("e1", T0, payload)
    assert record.action in ("unknown", "skip", "dispatch")
    assert record.tasks == ()
    assert record.task_reason_counts == {}
    assert isinstance(record.tasks_total, int)


def test_the_newest_title_wins_and_odd_ones_are_left_out() -> None:
    pairs: list[tuple[str, Any]] = [
        ("a", {"title": "First"}),
        ("b", {"title": ""}),
        ("c", {"title": 7}),
        ("d", None),
        ("a", {"title": "Renamed"}),
    ]
    assert titles_from(pairs) == {"a": "Renamed"}


def test_attempts_are_counted_per_utc_day_with_quiet_days_as_zeros() -> None:
    # 01:00 at +02:00 is still the day before in UTC.
    plus_two = datetime(2026, 3, 2, 1, tzinfo=timezone(timedelta(hours=2)))
    rows = [
        (datetime(2026, 3, 1, 23, 59, tzinfo=UTC), "failed"),
        (plus_two, "succeeded"),
        (datetime(2026, 3, 2, 9, tzinfo=UTC), "running"),
        (datetime(2026, 3, 2, 9, tzinfo=UTC), "created"),
        (datetime(2026, 2, 20, tzinfo=UTC), "failed"),  # before the range
    ]
    days = by_day(rows, date(2026, 3, 1), date(2026, 3, 3))
    assert days == [
        DayOutcomes(date(2026, 3, 1), succeeded=1, failed=1),
        DayOutcomes(date(2026, 3, 2), in_flight=2),
        DayOutcomes(date(2026, 3, 3)),
    ]
    assert [d.total for d in days] == [2, 2, 0]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'cp.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def created(attempt: str, task: str, minute: int, title: Any, target: str = "radix") -> Any:
    return new_event(
        EventType.ATTEMPT_CREATED,
        target_id=target,
        actor="test",
        attempt_id=attempt,
        task_id=task,
        fence=1,
        occurred_at=T0 + timedelta(minutes=minute),
        payload={"attempt_number": 1, "title": title},
    )


def cycle(minute: int, reason: str, target: str = "radix") -> Any:
    return new_event(
        EventType.SCHEDULER_CYCLE,
        target_id=target,
        actor="test",
        occurred_at=T0 + timedelta(minutes=minute),
        payload={"action": "skip", "reason": reason, "tasks": []},
    )


def test_queries_read_the_stored_log(engine: Engine) -> None:
    failed = new_event(
        EventType.ATTEMPT_FAILED,
        target_id="radix",
        actor="test",
        attempt_id="a1",
        fence=1,
        occurred_at=T0 + timedelta(minutes=2),
        payload={"reason": "no_changes", "message": "nothing"},
    )
    EventStore(engine).append(
        [
            cycle(0, "paused"),
            created("a1", "fix", 1, "<b>Fix</b>"),
            failed,
            created("a2", "fix", 3, "Fix again"),
            created("o1", "other", 3, "Elsewhere", target="orca"),
            cycle(4, "max_open_prs"),
            cycle(5, "disabled", target="orca"),
        ]
    )
    record = last_cycle(engine, "radix")
    assert record is not None and record.reason == "max_open_prs"
    assert last_cycle(engine, "nobody") is None
    assert task_titles(engine, "radix") == {"fix": "Fix again"}
    timelines = events_of(engine, ["a1", "a2", "missing"])
    assert [e["event"]["type"] for e in timelines["a1"]] == ["attempt.created", "attempt.failed"]
    assert len(timelines["a2"]) == 1 and timelines["missing"] == []
    assert events_of(engine, []) == {}
    days = outcomes(engine, "radix", date(2026, 3, 2), 2)
    assert days == [DayOutcomes(date(2026, 3, 1)), DayOutcomes(date(2026, 3, 2), 0, 1, 1)]
    assert outcomes(engine, None, date(2026, 3, 2), 1)[0].total == 3
