"""Pure projection rules: statuses, refusals, counts, breaker, PRs, pause, chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leviathan_control_plane.log.canonical import event_body
from leviathan_control_plane.log.chain import GENESIS_HASH, chain_hash
from leviathan_control_plane.projections.payload import payload_problems
from leviathan_control_plane.projections.projection import apply
from leviathan_control_plane.projections.views import Rejection, TargetView, Working
from leviathan_core.events import Event, EventType, new_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(kind: EventType, minute: int = 0, *, attempt: str | None = "a1", **kw: Any) -> Event:
    return new_event(
        kind,
        target_id="radix",
        actor="test",
        attempt_id=attempt,
        occurred_at=T0 + timedelta(minutes=minute),
        **kw,
    )


def fresh() -> Working:
    return Working(targets={"radix": TargetView("radix", 0, GENESIS_HASH)})


def run(work: Working, *events: Event) -> list[str]:
    return [apply(work, e, event_body(e)).status for e in events]


def lifecycle(attempt: str, task: str, end: EventType, minute: int = 0) -> list[Event]:
    payload: dict[str, Any] = {"reason": "no_changes", "message": "nothing to do"}
    return [
        ev(
            EventType.ATTEMPT_CREATED,
            minute,
            attempt=attempt,
            task_id=task,
            fence=1,
            payload={"attempt_number": 1},
        ),
        ev(EventType.ATTEMPT_STARTED, minute + 1, attempt=attempt, fence=1),
        ev(
            end,
            minute + 2,
            attempt=attempt,
            fence=1,
            payload=payload if end is EventType.ATTEMPT_FAILED else {},
        ),
    ]


def test_status_moves_forward_and_counts_follow() -> None:
    work = fresh()
    created, started, failed = lifecycle("a1", "t1", EventType.ATTEMPT_FAILED)
    run(work, created)
    assert work.attempts["a1"].status == "created"
    assert work.targets["radix"].stats["attempts_by_status"] == {"created": 1}
    run(work, started, failed)
    attempt = work.attempts["a1"]
    assert (attempt.status, attempt.reason, attempt.attempt_number) == ("failed", "no_changes", 1)
    assert work.targets["radix"].stats["attempts_by_status"] == {
        "created": 0,
        "running": 0,
        "failed": 1,
    }
    assert work.tasks == {("radix", "t1"): 1}
    assert work.targets["radix"].consecutive_failures == 1


def test_late_created_event_does_not_move_status_back() -> None:
    work = fresh()
    created, started, _ = lifecycle("a1", "t1", EventType.ATTEMPT_FAILED)
    run(work, started, created)
    assert work.attempts["a1"].status == "running"
    assert work.attempts["a1"].task_id == "t1"
    assert work.attempts["a1"].created_at == created.occurred_at


def test_duplicate_and_conflicting_ids() -> None:
    work = fresh()
    created = lifecycle("a1", "t1", EventType.ATTEMPT_FAILED)[0]
    assert run(work, created, created) == ["created", "duplicate"]
    changed = created.model_copy(update={"actor": "someone-else"})
    with pytest.raises(Rejection, match="different content") as info:
        run(work, changed)
    assert info.value.status == 409
    assert work.targets["radix"].last_sequence == 1


def test_terminal_attempt_refuses_new_events_but_accepts_duplicates() -> None:
    work = fresh()
    events = lifecycle("a1", "t1", EventType.ATTEMPT_SUCCEEDED)
    run(work, *events)
    assert run(work, events[-1]) == ["duplicate"]
    late = ev(EventType.ATTEMPT_FAILED, 9, payload={"reason": "timeout", "message": "late"})
    with pytest.raises(Rejection, match="already succeeded"):
        run(work, late)
    assert work.attempts["a1"].status == "succeeded"
    assert work.targets["radix"].last_sequence == 3


def test_stale_fence_is_refused_and_newer_fence_wins() -> None:
    work = fresh()
    run(work, ev(EventType.ATTEMPT_CREATED, task_id="t1", fence=5))
    with pytest.raises(Rejection, match="stale fence 4"):
        run(work, ev(EventType.ATTEMPT_STARTED, 1, fence=4))
    run(work, ev(EventType.ATTEMPT_STARTED, 1, fence=6))
    assert work.attempts["a1"].fence == 6


def test_attempt_of_another_target_is_refused() -> None:
    work = fresh()
    work.targets["other"] = TargetView("other", 0, GENESIS_HASH)
    run(work, ev(EventType.ATTEMPT_CREATED, task_id="t1"))
    foreign = new_event(
        EventType.ATTEMPT_STARTED, target_id="other", actor="x", attempt_id="a1", occurred_at=T0
    )
    with pytest.raises(Rejection, match="belongs to target radix"):
        run(work, foreign)


def test_breaker_counts_failures_and_resets_on_success_or_reset() -> None:
    work = fresh()
    run(work, *lifecycle("a1", "t1", EventType.ATTEMPT_FAILED, 0))
    run(work, *lifecycle("a2", "t1", EventType.ATTEMPT_FAILED, 10))
    assert work.targets["radix"].consecutive_failures == 2
    run(work, ev(EventType.BREAKER_RESET, 20, attempt=None, payload={"reason": "fixed"}))
    assert work.targets["radix"].consecutive_failures == 0
    run(work, *lifecycle("a3", "t2", EventType.ATTEMPT_FAILED, 30))
    run(work, *lifecycle("a4", "t2", EventType.ATTEMPT_SUCCEEDED, 40))
    assert work.targets["radix"].consecutive_failures == 0
    assert work.tasks == {("radix", "t1"): 2, ("radix", "t2"): 2}


def test_pull_requests_open_and_close() -> None:
    work = fresh()
    run(work, ev(EventType.ATTEMPT_CREATED, task_id="t1"))
    pr = {"pr_number": 7, "pr_url": "https://example.test/pr/7", "branch": "agent/x"}
    run(work, ev(EventType.PR_CREATED, 1, payload=pr))
    assert work.targets["radix"].open_prs == 1
    assert work.pulls[("radix", 7)].task_id == "t1"
    assert work.attempts["a1"].pr_number == 7
    run(work, ev(EventType.PR_CLOSED, 2, attempt=None, payload={"pr_number": 7}))
    run(
        work,
        ev(EventType.PR_CLOSED, 3, attempt=None, payload={"pr_number": 7}, event_id="second-close"),
    )
    assert work.targets["radix"].open_prs == 0
    assert work.pulls[("radix", 7)].is_open is False


def test_pause_mirror() -> None:
    work = fresh()
    run(work, ev(EventType.TARGET_PAUSED, attempt=None, payload={"reason": "release freeze"}))
    assert (work.targets["radix"].paused, work.targets["radix"].pause_reason) == (
        True,
        "release freeze",
    )
    run(work, ev(EventType.TARGET_RESUMED, 1, attempt=None))
    assert (work.targets["radix"].paused, work.targets["radix"].pause_reason) == (False, None)


def test_chain_links_each_event_to_the_previous() -> None:
    work = fresh()
    events = lifecycle("a1", "t1", EventType.ATTEMPT_SUCCEEDED)
    run(work, *events)
    prev = GENESIS_HASH
    for sequence, (event, body, seq, prev_hash, digest) in enumerate(work.new_events, 1):
        assert (seq, prev_hash) == (sequence, prev)
        assert (
            digest
            == chain_hash(prev, sequence, event_body(event))
            == chain_hash(prev, sequence, body)
        )
        prev = digest
    assert work.targets["radix"].last_hash == prev


def test_canonical_body_ignores_key_order_and_offset_notation() -> None:
    a = Event.model_validate(
        {
            "event_id": "e1",
            "type": "scheduler.cycle",
            "target_id": "radix",
            "occurred_at": "2026-01-01T01:00:00+01:00",
            "actor": "s",
            "payload": {"b": 1, "a": 2},
        }
    )
    b = Event.model_validate(
        {
            "payload": {"a": 2, "b": 1},
            "actor": "s",
            "occurred_at": "2026-01-01T00:00:00Z",
            "target_id": "radix",
            "type": "scheduler.cycle",
            "event_id": "e1",
        }
    )
    assert event_body(a) == event_body(b)


@pytest.mark.parametrize(
    ("kind", "payload", "problem"),
    [
        (EventType.PR_CREATED, {"pr_number": "7", "pr_url": "u", "branch": "b"}, "pr_number"),
        (EventType.PR_CREATED, {"pr_number": True, "pr_url": "u", "branch": "b"}, "pr_number"),
        (EventType.PR_CREATED, {"pr_number": 7, "pr_url": "", "branch": "b"}, "pr_url"),
        (EventType.PR_CLOSED, {}, "pr_number"),
        (EventType.ATTEMPT_FAILED, {"reason": "Not A Code", "message": "m"}, "reason"),
        (EventType.ATTEMPT_FAILED, {"reason": "timeout", "message": 3}, "message"),
        (EventType.ATTEMPT_CREATED, {"attempt_number": 0}, "attempt_number"),
    ],
)
def test_payload_problems_name_the_field(
    kind: EventType, payload: dict[str, Any], problem: str
) -> None:
    event = ev(kind, attempt="a1", payload=payload)
    assert any(problem in p for p in payload_problems(event))


def test_good_payloads_have_no_problems() -> None:
    pr = {"pr_number": 7, "pr_url": "https://x/7", "branch": "agent/x"}
    assert payload_problems(ev(EventType.PR_CREATED, payload=pr)) == []
    failed = {"reason": "fact_unavailable:forge", "message": "m"}
    assert payload_problems(ev(EventType.ATTEMPT_FAILED, payload=failed)) == []
