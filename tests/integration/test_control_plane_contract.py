"""The scheduler's fake control plane answers as the real one does.

Unit tests of the select cycle and the reconciler run against
``tests.support.scheduler_fakes.FakeControlPlane``, which re-implements the
control plane's projection in memory. Each scenario here posts the same events
to the fake and to the real control plane (its app under uvicorn, on SQLite,
through ``ControlPlaneClient``) and reads back what the scheduler reads: the
target state, the attempt lists, one attempt's timeline, and the answer to
every post (created, duplicate, or the status of a refusal). The two
transcripts must be equal; the real one is the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from tests.support.control_plane import running_control_plane
from tests.support.scheduler_fakes import FakeControlPlane

from leviathan_adapters.control_plane_client import (
    ControlPlaneClient,
    ControlPlaneRejected,
    ControlPlaneUnavailable,
    PostOutcome,
)
from leviathan_core.events import ATTEMPT_TYPES, Event, EventType, new_event
from leviathan_core.state import AttemptSummary, TargetState

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY0 = T0.date()
TARGET = "radix"


class Plane(Protocol):
    """What the scheduler calls on its control plane (ControlPlaneClient's reads and writes)."""

    def post_event(self, event: Event) -> PostOutcome: ...
    def target_state(self, target_id: str, day: date | None = None) -> TargetState: ...
    def list_attempts(
        self, target_id: str | None = None, limit: int = 50
    ) -> list[AttemptSummary]: ...
    def list_failures(
        self, target_id: str | None = None, limit: int = 50
    ) -> list[AttemptSummary]: ...
    def get_attempt(self, attempt_id: str) -> dict[str, Any]: ...
    def reset_breaker(self, target_id: str, reason: str, actor: str) -> None: ...


def ev(
    kind: EventType,
    attempt: str | None = None,
    *,
    at: float = 0,
    task: str | None = "fix-links",
    fence: int | None = None,
    target: str = TARGET,
    event_id: str | None = None,
    **payload: Any,
) -> Event:
    """An event at ``T0 + at`` seconds, with an id both sides give it."""
    if event_id is None and kind not in ATTEMPT_TYPES:
        event_id = f"{kind.value}:{target}:{at:g}"
    return new_event(
        kind,
        target_id=target,
        actor="contract",
        attempt_id=attempt,
        task_id=task if attempt is not None else None,
        fence=fence,
        payload=payload,
        event_id=event_id,
        occurred_at=T0 + timedelta(seconds=at),
    )


def failed(attempt: str, *, at: float, task: str = "fix-links", **extra: Any) -> Event:
    return ev(
        EventType.ATTEMPT_FAILED,
        attempt,
        at=at,
        task=task,
        reason=extra.pop("reason", "engine_failed"),
        message=extra.pop("message", "the engine exited 1"),
        **extra,
    )


def pr_created(attempt: str, number: int, *, at: float, task: str = "fix-links") -> Event:
    return ev(
        EventType.PR_CREATED,
        attempt,
        at=at,
        task=task,
        pr_number=number,
        pr_url=f"https://github.com/o/radix/pull/{number}",
        branch=f"agent/{attempt}",
    )


class Transcript:
    """Every answer ``plane`` gives, in a form both sides can be compared in."""

    def __init__(self, plane: Plane) -> None:
        self.plane = plane
        self.lines: list[tuple[str, Any, Any]] = []

    def post(self, *events: Event) -> list[str]:
        answers: list[str] = []
        for event in events:
            try:
                answer: str = self.plane.post_event(event).status
            except ControlPlaneRejected as exc:
                answer = f"refused {exc.status}"
            self.lines.append(("post", event.event_id, answer))
            answers.append(answer)
        return answers

    def state(self, target: str = TARGET, day: date = DAY0) -> TargetState:
        """The state with the tokens of ``day`` (T0's day unless told, as a cycle asks)."""
        state = self.plane.target_state(target, day)
        self.lines.append(("state", (target, day.isoformat()), state.model_dump(mode="json")))
        return state

    def attempts(self, target: str | None = TARGET, limit: int = 50) -> list[AttemptSummary]:
        found = self.plane.list_attempts(target, limit=limit)
        self.lines.append(("attempts", (target, limit), [a.model_dump(mode="json") for a in found]))
        return found

    def failures(self, target: str | None = TARGET, limit: int = 50) -> list[AttemptSummary]:
        found = self.plane.list_failures(target, limit=limit)
        self.lines.append(("failures", (target, limit), [a.model_dump(mode="json") for a in found]))
        return found

    def timeline(self, attempt_id: str) -> dict[str, Any] | str:
        """The attempt and its events (sequence and body; hashes are the real one's own)."""
        try:
            data = self.plane.get_attempt(attempt_id)
        except ControlPlaneRejected as exc:
            answer: dict[str, Any] | str = f"refused {exc.status}"
        else:
            events = [{"sequence": e["sequence"], "event": e["event"]} for e in data["events"]]
            answer = {"attempt": data["attempt"], "events": events}
        self.lines.append(("timeline", attempt_id, answer))
        return answer

    def reset_breaker(self, target: str = TARGET) -> None:
        self.plane.reset_breaker(target, "fixed the token", "alice")
        self.lines.append(("reset", target, None))


# -- scenarios: each drives one plane and asserts what the real one is known to do --------


def nothing_recorded(t: Transcript) -> None:
    state = t.state()
    assert state == TargetState(target_id=TARGET, usage_day=T0.date())
    assert t.attempts() == [] and t.failures() == []
    assert t.timeline("attempt-never-seen") == "refused 404"


def an_attempt_from_creation_to_success(t: Transcript) -> None:
    a = "attempt-fix-links-1"
    assert t.post(
        ev(EventType.ATTEMPT_CREATED, a, at=0, fence=3, attempt_number=1),
        ev(EventType.ATTEMPT_DISPATCHED, a, at=1, fence=3),
    ) == ["created", "created"]
    running = t.state()
    assert [r.status for r in running.running_attempts] == ["dispatched"]
    assert running.attempts_per_task == {"fix-links": 1}
    assert running.max_fence == 3 and running.last_sequence == 2
    t.post(ev(EventType.ATTEMPT_STARTED, a, at=2, fence=3))
    t.post(pr_created(a, 41, at=3))
    opened = t.state()
    assert [p.pr_number for p in opened.open_prs] == [41]
    assert opened.open_prs[0].task_id == "fix-links"
    t.post(ev(EventType.ATTEMPT_SUCCEEDED, a, at=4, fence=3, pr_number=41, commit="c0ffee"))
    done = t.state()
    assert done.running_attempts == [] and done.consecutive_failures == 0
    (summary,) = t.attempts()
    assert summary.status == "succeeded" and summary.attempt_number == 1
    assert (summary.pr_number, summary.commit, summary.branch) == (41, "c0ffee", f"agent/{a}")
    assert summary.created_at == T0 and summary.updated_at == T0 + timedelta(seconds=4)
    t.timeline(a)


def consecutive_failures_count_until_a_success(t: Transcript) -> None:
    for n in range(3):
        a = f"attempt-fix-links-{n}"
        t.post(ev(EventType.ATTEMPT_CREATED, a, at=10 * n), failed(a, at=10 * n + 5))
        assert t.state().consecutive_failures == n + 1
    newest = t.failures()
    assert [f.attempt_id for f in newest] == [f"attempt-fix-links-{n}" for n in (2, 1, 0)]
    assert newest[0].reason == "engine_failed" and newest[0].message == "the engine exited 1"
    assert [f.attempt_id for f in t.failures(limit=1)] == ["attempt-fix-links-2"]
    t.post(
        ev(EventType.ATTEMPT_CREATED, "attempt-ok", at=40),
        ev(EventType.ATTEMPT_SUCCEEDED, "attempt-ok", at=41),
    )
    assert t.state().consecutive_failures == 0
    t.post(
        ev(EventType.ATTEMPT_CREATED, "attempt-late-fail", at=50),
        failed("attempt-late-fail", at=51),
    )
    assert t.state().consecutive_failures == 1
    assert t.state().attempts_per_task == {"fix-links": 5}


def a_breaker_reset_zeroes_the_count(t: Transcript) -> None:
    for n in range(2):
        a = f"attempt-{n}"
        t.post(ev(EventType.ATTEMPT_CREATED, a, at=n), failed(a, at=n + 0.5, reason="clone_failed"))
    assert t.state().consecutive_failures == 2
    t.reset_breaker()
    after = t.state()
    assert after.consecutive_failures == 0 and after.last_sequence == 5
    t.post(ev(EventType.ATTEMPT_CREATED, "attempt-probe", at=9), failed("attempt-probe", at=10))
    assert t.state().consecutive_failures == 1
    assert [f.reason for f in t.failures()] == ["engine_failed", "clone_failed", "clone_failed"]


def a_failure_of_another_target_is_not_counted(t: Transcript) -> None:
    t.post(ev(EventType.ATTEMPT_CREATED, "attempt-a", at=0), failed("attempt-a", at=1))
    t.post(
        ev(EventType.ATTEMPT_CREATED, "attempt-b", at=2, target="other"),
        ev(EventType.ATTEMPT_DISPATCHED, "attempt-b", at=3, target="other", fence=9),
    )
    mine, theirs = t.state(), t.state("other")
    assert mine.consecutive_failures == 1 and theirs.consecutive_failures == 0
    assert [r.attempt_id for r in theirs.running_attempts] == ["attempt-b"]
    assert (mine.max_fence, theirs.max_fence) == (0, 9)
    assert [a.attempt_id for a in t.attempts()] == ["attempt-a"]
    assert [a.attempt_id for a in t.attempts(None)] == ["attempt-b", "attempt-a"]
    assert [a.attempt_id for a in t.failures("other")] == []
    # One attempt id belongs to one target.
    assert t.post(ev(EventType.ATTEMPT_STARTED, "attempt-a", at=4, target="other")) == [
        "refused 409"
    ]


def retries_of_a_post_are_duplicates(t: Transcript) -> None:
    a = "attempt-retried"
    created = ev(EventType.ATTEMPT_CREATED, a, at=0, fence=1)
    assert t.post(created, created) == ["created", "duplicate"]
    fail = failed(a, at=1)
    assert t.post(fail, fail) == ["created", "duplicate"]
    state = t.state()
    assert state.consecutive_failures == 1 and state.attempts_per_task == {"fix-links": 1}
    assert state.last_sequence == 2
    # The same id with other content is a conflict, not a duplicate.
    assert t.post(failed(a, at=1, message="something else")) == ["refused 409"]


def a_task_retried_counts_each_attempt(t: Transcript) -> None:
    for n in (1, 2, 3):
        a = f"attempt-fix-links-{n}"
        t.post(ev(EventType.ATTEMPT_CREATED, a, at=n, attempt_number=n))
        if n < 3:
            t.post(failed(a, at=n + 0.5))
    t.post(ev(EventType.ATTEMPT_CREATED, "attempt-other-1", at=5, task="other-task"))
    state = t.state()
    assert state.attempts_per_task == {"fix-links": 3, "other-task": 1}
    assert [r.attempt_id for r in state.running_attempts] == [
        "attempt-fix-links-3",
        "attempt-other-1",
    ]
    assert [a.attempt_number for a in t.attempts()] == [None, 3, 2, 1]
    assert [a.attempt_id for a in t.attempts(limit=2)] == ["attempt-other-1", "attempt-fix-links-3"]


def an_attempt_without_a_task_is_not_counted_until_one_is_named(t: Transcript) -> None:
    a = "attempt-untasked"
    t.post(ev(EventType.ATTEMPT_CREATED, a, at=0, task=None))
    assert t.state().attempts_per_task == {}
    t.post(ev(EventType.ATTEMPT_DISPATCHED, a, at=1, task="named-later"))
    assert t.state().attempts_per_task == {"named-later": 1}
    t.post(ev(EventType.ATTEMPT_STARTED, a, at=2, task="renamed"))
    state = t.state()
    assert state.attempts_per_task == {"named-later": 1}
    assert state.running_attempts[0].task_id == "named-later"


def steps_told_out_of_order_never_move_an_attempt_back(t: Transcript) -> None:
    a = "attempt-out-of-order"
    t.post(ev(EventType.ATTEMPT_STARTED, a, at=5, fence=2))
    t.post(ev(EventType.ATTEMPT_DISPATCHED, a, at=3, fence=2))
    t.post(ev(EventType.ATTEMPT_CREATED, a, at=1, fence=2))
    (running,) = t.state().running_attempts
    assert running.status == "running"
    assert running.created_at == T0 + timedelta(seconds=1)
    assert running.updated_at == T0 + timedelta(seconds=5)
    t.timeline(a)


def a_terminal_attempt_takes_late_steps_but_no_second_ending(t: Transcript) -> None:
    a = "attempt-reconciled"
    t.post(
        ev(EventType.ATTEMPT_CREATED, a, at=0, fence=4), failed(a, at=60, fence=4, reason="timeout")
    )
    # The worker's and the dispatcher's spooled steps arrive after the reconciler failed it.
    assert t.post(
        ev(EventType.ATTEMPT_STARTED, a, at=10, fence=4),
        ev(EventType.ATTEMPT_DISPATCHED, a, at=5, fence=4),
        ev(EventType.ATTEMPT_CREATED, a, at=0, fence=4, event_id="attempt-reconciled:again"),
    ) == ["created", "created", "created"]
    # Anything else for an ended attempt is refused.
    assert (
        t.post(
            ev(EventType.ATTEMPT_SUCCEEDED, a, at=70, fence=4),
            failed(a, at=71, fence=4, event_id="attempt-reconciled:failed-twice"),
            pr_created(a, 7, at=72),
            ev(EventType.ATTEMPT_STARTED, a, at=11, fence=3, event_id="attempt-reconciled:stale"),
        )
        == ["refused 409"] * 4
    )
    state = t.state()
    assert state.running_attempts == [] and state.open_prs == []
    assert state.consecutive_failures == 1 and state.attempts_per_task == {"fix-links": 1}
    assert state.last_sequence == 5
    (summary,) = t.failures()
    assert summary.status == "failed" and summary.reason == "timeout"
    assert summary.updated_at == T0 + timedelta(seconds=60)
    t.timeline(a)


def a_stale_fence_is_refused(t: Transcript) -> None:
    a = "attempt-fenced"
    t.post(ev(EventType.ATTEMPT_CREATED, a, at=0, fence=5))
    assert t.post(ev(EventType.ATTEMPT_STARTED, a, at=1, fence=4)) == ["refused 409"]
    assert t.post(ev(EventType.ATTEMPT_STARTED, a, at=1, fence=6, event_id="attempt-fenced:6")) == [
        "created"
    ]
    assert t.post(ev(EventType.ATTEMPT_SUCCEEDED, a, at=2)) == ["created"]  # no fence: no check
    assert t.state().max_fence == 6


def pull_requests_open_and_close(t: Transcript) -> None:
    t.post(ev(EventType.ATTEMPT_CREATED, "attempt-one", at=0), pr_created("attempt-one", 12, at=1))
    t.post(ev(EventType.ATTEMPT_SUCCEEDED, "attempt-one", at=2, pr_number=12))
    t.post(
        ev(EventType.ATTEMPT_CREATED, "attempt-two", at=3, task="other-task"),
        pr_created("attempt-two", 9, at=4, task="other-task"),
    )
    opened = t.state()
    assert [(p.pr_number, p.attempt_id) for p in opened.open_prs] == [
        (9, "attempt-two"),
        (12, "attempt-one"),
    ]
    t.post(ev(EventType.PR_CLOSED, at=5, pr_number=12, merged=True))
    assert [p.pr_number for p in t.state().open_prs] == [9]
    # Closing again, or closing a PR never opened, changes nothing.
    t.post(ev(EventType.PR_CLOSED, at=6, pr_number=12), ev(EventType.PR_CLOSED, at=7, pr_number=99))
    assert [p.pr_number for p in t.state().open_prs] == [9]
    t.timeline("attempt-one")


def a_pull_request_told_before_its_attempt(t: Transcript) -> None:
    t.post(pr_created("attempt-early", 3, at=1, task="early-task"))
    state = t.state()
    assert [r.status for r in state.running_attempts] == ["created"]
    assert [p.task_id for p in state.open_prs] == ["early-task"]
    t.post(ev(EventType.ATTEMPT_CREATED, "attempt-early", at=0, task="early-task"))
    t.post(ev(EventType.PR_CLOSED, "attempt-early", at=2, pr_number=3))
    # The same number opened again by a later attempt is open again.
    t.post(
        ev(EventType.ATTEMPT_CREATED, "attempt-again", at=3), pr_created("attempt-again", 3, at=4)
    )
    assert [(p.pr_number, p.attempt_id) for p in t.state().open_prs] == [(3, "attempt-again")]
    t.timeline("attempt-early")


def pause_and_resume(t: Transcript) -> None:
    t.post(ev(EventType.TARGET_PAUSED, at=0, reason="deploy"))
    state = t.state()
    assert state.paused and state.pause_reason == "deploy"
    t.post(ev(EventType.TARGET_RESUMED, at=1))
    state = t.state()
    assert not state.paused and state.pause_reason is None
    t.post(ev(EventType.SCHEDULER_CYCLE, at=2, status="idle"))
    assert t.state().last_sequence == 3


def payloads_the_projection_cannot_read_are_refused(t: Transcript) -> None:
    a = "attempt-bad-payloads"
    t.post(ev(EventType.ATTEMPT_CREATED, a, at=0))
    assert (
        t.post(
            ev(EventType.PR_CREATED, a, at=1, pr_number="twelve", pr_url="u", branch="b"),
            ev(EventType.PR_CREATED, a, at=1, pr_number=0, pr_url="u", branch="b"),
            ev(EventType.PR_CREATED, a, at=1, pr_number=5, pr_url="", branch="b"),
            ev(EventType.PR_CLOSED, at=1),
            failed(a, at=2, reason="Not A Code"),
            failed(a, at=2, message=7),
            ev(EventType.ATTEMPT_CREATED, "attempt-number", at=0, attempt_number=True),
        )
        == ["refused 422"] * 7
    )
    state = t.state()
    assert state.last_sequence == 1 and state.open_prs == [] and state.consecutive_failures == 0


def usage(model: str, prompt: int, completion: int, total: int | None = None) -> dict[str, Any]:
    """An ``attempt.usage`` payload's ``usage`` object."""
    total = prompt + completion if total is None else total
    return {
        "model": model,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
    }


def tokens_add_up_per_target_and_utc_day(t: Transcript) -> None:
    a, b = "attempt-spender-1", "attempt-spender-2"
    day1, day2 = T0.date(), T0.date() + timedelta(days=1)
    next_midnight = (datetime.combine(day2, datetime.min.time(), UTC) - T0).total_seconds()
    t.post(ev(EventType.ATTEMPT_CREATED, a, at=0, fence=2))
    assert t.post(
        ev(EventType.ATTEMPT_USAGE, a, at=10, fence=2, usage=usage("gpt-4o", 1000, 200)),
        ev(
            EventType.ATTEMPT_USAGE,
            a,
            at=20,
            fence=2,
            event_id=f"{a}:attempt.usage:2",
            usage=usage("claude-sonnet", 300, 100, total=0),  # a total short of its parts
        ),
    ) == ["created", "created"]
    state = t.state()
    assert state.usage_day == day1 and state.tokens_today == 1600
    # A report changes no attempt: it still runs, its task counted once.
    assert [r.status for r in state.running_attempts] == ["created"]
    assert state.attempts_per_task == {"fix-links": 1}
    # A retried report is a duplicate, not a second count.
    again = ev(EventType.ATTEMPT_USAGE, a, at=10, fence=2, usage=usage("gpt-4o", 1000, 200))
    assert t.post(again) == ["duplicate"]
    # The attempt ends; its engine's report told after the end still counts.
    t.post(failed(a, at=30, fence=2, reason="timeout"))
    late = ev(
        EventType.ATTEMPT_USAGE,
        a,
        at=25,
        fence=2,
        event_id=f"{a}:attempt.usage:3",
        usage=usage("gpt-4o", 50, 50),
    )
    assert t.post(late) == ["created"]
    assert t.state().tokens_today == 1700
    # A report of an attempt the log has not seen counts and creates no attempt.
    t.post(
        ev(EventType.ATTEMPT_USAGE, b, at=next_midnight, usage=usage("gpt-4o", 10, 5)),
        ev(
            EventType.ATTEMPT_USAGE,
            b,
            at=next_midnight - 1,
            event_id=f"{b}:attempt.usage:before-midnight",
            usage=usage("gpt-4o", 1, 1),
        ),
    )
    first, second = t.state(), t.state(day=day2)
    assert (first.tokens_today, second.tokens_today) == (1702, 15)
    assert second.usage_day == day2 and second.running_attempts == []
    assert t.timeline(b) == "refused 404"
    assert t.state(day=day2 + timedelta(days=1)).tokens_today == 0
    # A stale fence is refused; another target's attempt is not this target's to report.
    one = usage("gpt-4o", 1, 1)
    assert t.post(
        ev(EventType.ATTEMPT_USAGE, a, at=40, fence=1, event_id=f"{a}:stale", usage=one),
        ev(EventType.ATTEMPT_USAGE, a, at=40, target="other", event_id="other-usage", usage=one),
    ) == ["refused 409", "refused 409"]
    assert t.state("other").tokens_today == 0
    assert t.state().tokens_today == 1702
    t.timeline(a)


def usage_the_projection_cannot_read_is_refused(t: Transcript) -> None:
    a = "attempt-bad-usage"
    t.post(ev(EventType.ATTEMPT_CREATED, a, at=0))
    good = usage("gpt-4o", 1, 1)
    bad = [
        {},
        {"usage": "lots"},
        {"usage": {**good, "model": ""}},
        {"usage": {k: v for k, v in good.items() if k != "model"}},
        {"usage": {**good, "prompt_tokens": -1}},
        {"usage": {**good, "completion_tokens": True}},
        {"usage": {**good, "total_tokens": "2"}},
        {"usage": {**good, "total_tokens": 1.5}},
        {"usage": {**good, "prompt_tokens": 2**31}},
        {"usage": {k: v for k, v in good.items() if k != "total_tokens"}},
    ]
    events = []
    for n, payload in enumerate(bad):
        event = ev(EventType.ATTEMPT_USAGE, a, at=1, event_id=f"{a}:usage:{n}", usage=good)
        events.append(event.model_copy(update={"payload": payload}))
    assert t.post(*events) == ["refused 422"] * len(bad)
    # JSON's 7.0 counts as 7, as it does for other counts; extra keys are kept.
    extra = {"usage": {**good, "prompt_tokens": 7.0, "cached_tokens": 3}, "engine": "agent"}
    accepted = ev(EventType.ATTEMPT_USAGE, a, at=2, usage=good)
    assert t.post(accepted.model_copy(update={"payload": extra})) == ["created"]
    state = t.state()
    assert state.last_sequence == 2 and state.tokens_today == 8  # at least 7 + 1


SCENARIOS: list[Callable[[Transcript], None]] = [
    nothing_recorded,
    an_attempt_from_creation_to_success,
    consecutive_failures_count_until_a_success,
    a_breaker_reset_zeroes_the_count,
    a_failure_of_another_target_is_not_counted,
    retries_of_a_post_are_duplicates,
    a_task_retried_counts_each_attempt,
    an_attempt_without_a_task_is_not_counted_until_one_is_named,
    steps_told_out_of_order_never_move_an_attempt_back,
    a_terminal_attempt_takes_late_steps_but_no_second_ending,
    a_stale_fence_is_refused,
    pull_requests_open_and_close,
    a_pull_request_told_before_its_attempt,
    pause_and_resume,
    payloads_the_projection_cannot_read_are_refused,
    tokens_add_up_per_target_and_utc_day,
    usage_the_projection_cannot_read_is_refused,
]


@pytest.fixture
def real_plane(tmp_path: Path) -> Iterator[ControlPlaneClient]:
    with (
        running_control_plane(tmp_path / "cp") as cp,
        ControlPlaneClient(cp.url, cp.token, retries=0) as client,
    ):
        yield client


def transcript_of(plane: Plane, scenario: Callable[[Transcript], None], side: str) -> Transcript:
    transcript = Transcript(plane)
    try:
        scenario(transcript)
    except AssertionError as exc:
        raise AssertionError(f"{scenario.__name__} on the {side} control plane: {exc}") from exc
    return transcript


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_the_fake_answers_as_the_real_control_plane(
    scenario: Callable[[Transcript], None], real_plane: ControlPlaneClient
) -> None:
    real = transcript_of(real_plane, scenario, "real")
    fake = transcript_of(FakeControlPlane(), scenario, "fake")
    for index, (want, got) in enumerate(zip(real.lines, fake.lines, strict=True)):
        assert got == want, f"answer {index} ({want[0]} {want[1]}) differs"


def test_a_fake_that_is_down_raises_as_the_client_does() -> None:
    fake = FakeControlPlane()
    fake.down = True
    with pytest.raises(ControlPlaneUnavailable):
        fake.target_state(TARGET)
    with pytest.raises(ControlPlaneUnavailable):
        fake.post_event(ev(EventType.ATTEMPT_CREATED, "attempt-x"))
