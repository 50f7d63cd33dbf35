"""The dashboard's view models, chart geometry and markup filters, over plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from markupsafe import Markup

from leviathan_control_plane.dashboard import chart, views
from leviathan_control_plane.dashboard.render import code_spans, environment, safe_href, when
from leviathan_control_plane.queries.cycles import CycleRecord, TaskVerdictRecord
from leviathan_control_plane.queries.timeline import DayOutcomes
from leviathan_core.reason_texts import CYCLE_REASONS, FAILURE_REASONS, TASK_REASONS
from leviathan_core.state import AttemptSummary, OpenPullRequest, TargetState

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def record(action: str = "skip", reason: str | None = "no_eligible_task", **kw: Any) -> CycleRecord:
    values: dict[str, Any] = {
        "event_id": "c1",
        "occurred_at": T0,
        "action": action,
        "reason": reason,
        "task_id": None,
        "attempt_id": None,
        "messages": (),
        "tasks": (),
        "tasks_total": 0,
        "task_reason_counts": {},
    }
    return CycleRecord(**(values | kw))


def verdict(task: str, *reasons: str) -> TaskVerdictRecord:
    return TaskVerdictRecord(task, not reasons, tuple(reasons), ())


def attempt(attempt_id: str, task: str, status: str = "failed", **kw: Any) -> AttemptSummary:
    return AttemptSummary.model_validate(
        {"attempt_id": attempt_id, "target_id": "radix", "task_id": task, "status": status} | kw
    )


def test_reasons_read_their_words_from_the_one_place_they_live() -> None:
    assert views.task_reason("not_ready").text == TASK_REASONS["not_ready"]
    meaning, remedy = CYCLE_REASONS["max_open_prs"]
    assert views.cycle_reason("max_open_prs") == views.Reason("max_open_prs", meaning, remedy)
    who, text = FAILURE_REASONS["engine_failed"]
    assert views.failure_reason("engine_failed").text == f"{text} (recorded by the {who})"
    assert views.task_reason("made_up").text == views.UNKNOWN_CODE
    assert views.cycle_reason("made_up").remedy is None


def test_the_breaker_shows_open_when_the_last_cycle_stopped_on_it() -> None:
    state = TargetState(target_id="radix", consecutive_failures=3)
    assert views.target_row(state, record(reason="breaker_open"), None).breaker_open
    assert not views.target_row(state, record(reason="paused"), None).breaker_open
    assert not views.target_row(state, None, None).breaker_open


@pytest.mark.parametrize(
    ("verdict_", "pull", "running", "selected", "expected"),
    [
        (
            verdict("a"),
            OpenPullRequest(pr_number=1, pr_url="u", branch="b"),
            False,
            False,
            "PR open",
        ),
        (verdict("a"), None, True, False, "attempt running"),
        (None, None, False, False, "not in the last cycle's record"),
        (verdict("a"), None, False, True, "selected"),
        (verdict("a"), None, False, False, "eligible"),
        (verdict("a", "not_ready"), None, False, False, "skipped"),
    ],
)
def test_a_task_state_in_words(
    verdict_: TaskVerdictRecord | None,
    pull: OpenPullRequest | None,
    running: bool,
    selected: bool,
    expected: str,
) -> None:
    assert views.task_state(verdict_, pull, running, selected) == expected


def test_task_rows_follow_the_backlog_then_the_tasks_with_attempts_only() -> None:
    pull = OpenPullRequest(pr_number=4, pr_url="https://x/pull/4", branch="agent/a", task_id="b")
    state = TargetState(
        target_id="radix",
        attempts_per_task={"b": 1, "gone": 2, "c": 1},
        open_prs=[pull],
        running_attempts=[attempt("r1", "c", "running")],
    )
    last = record(
        action="dispatch",
        reason=None,
        task_id="a",
        tasks=(verdict("a"), verdict("b", "open_pr_exists"), verdict("c", "attempt_running")),
    )
    attempts = [attempt("r1", "c", "running"), attempt("g2", "gone"), attempt("g1", "gone")]
    rows = views.task_rows(state, last, {"a": "Do <a>", "gone": "Old"}, attempts)
    assert [(r.task_id, r.state) for r in rows] == [
        ("a", "selected"),
        ("b", "PR open"),
        ("c", "attempt running"),
        ("gone", "not in the last cycle's record"),
    ]
    assert rows[0].title == "Do <a>" and rows[1].title is None
    assert rows[1].pull == pull and rows[1].reasons[0].code == "open_pr_exists"
    assert rows[3].attempts_used == 2
    last_attempt = rows[3].last_attempt
    assert last_attempt is not None and last_attempt.attempt_id == "g2"  # the newest


def test_without_any_cycle_the_tasks_come_from_attempts() -> None:
    rows = views.task_rows(TargetState(target_id="radix"), None, {}, [attempt("a1", "t")])
    assert [(r.task_id, r.state, r.reasons) for r in rows] == [
        ("t", "not in the last cycle's record", [])
    ]


def stored(kind: str, payload: Any, **extra: Any) -> dict[str, Any]:
    event = {"type": kind, "occurred_at": "2026-03-02T10:00:00Z", "actor": "w", "payload": payload}
    return {"event": event, "unreadable": None} | extra


def test_event_rows_sum_up_each_kind() -> None:
    failed = views.event_row(stored("attempt.failed", {"reason": "pr_cap", "message": "cap"}))
    assert failed.summary == "cap" and failed.reason is not None and failed.reason.code == "pr_cap"
    pr = views.event_row(
        stored("pr.created", {"pr_number": 2, "pr_url": "https://x/2", "branch": "agent/x"})
    )
    assert (pr.summary, pr.link) == ("PR #2 on agent/x", "https://x/2")
    created = views.event_row(stored("attempt.created", {"attempt_number": 1, "title": "T"}))
    assert created.summary == "attempt 1: T"
    cycle = views.event_row(stored("scheduler.cycle", {"action": "skip", "reason": "paused"}))
    assert cycle.summary == "skip paused"


@pytest.mark.parametrize(
    "body",
    [
        {"event": None},
        {"event": {"type": "pr.created", "payload": "text"}},
        {"event": {"type": "attempt.failed", "payload": {}}},
        {"event": {"payload": {"x": "y" * 5000}}},
        stored("attempt.started", {}, unreadable={"reason": "bad"}),
    ],
)
def test_an_event_row_never_fails_on_a_stored_body(body: dict[str, Any]) -> None:
    row = views.event_row(body)
    assert len(row.payload) <= views.DETAIL_CHARS + 2


def test_the_chart_stacks_outcomes_per_day_on_a_round_scale() -> None:
    days = [
        DayOutcomes(date(2026, 3, 1), succeeded=2, failed=1),
        DayOutcomes(date(2026, 3, 2)),
        DayOutcomes(date(2026, 3, 3), in_flight=4),
    ]
    drawn = chart.build(days)
    assert drawn.peak == 4
    assert [(b.day, b.outcome, b.count) for b in drawn.bars] == [
        ("2026-03-01", "succeeded", 2),
        ("2026-03-01", "failed", 1),
        ("2026-03-03", "in_flight", 4),
    ]
    first, second, third = drawn.bars
    assert first.y + first.height == pytest.approx(drawn.baseline)
    assert second.y + second.height == pytest.approx(first.y)  # stacked on top
    assert third.height == pytest.approx(2 * first.height)
    assert [t.label for t in drawn.ticks] == ["0", "2", "5"]
    assert drawn.ticks[0].y == pytest.approx(drawn.baseline)
    assert [d.label for d in drawn.labels] == ["03-01", "03-02", "03-03"]


@pytest.mark.parametrize(
    ("peak", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (11, 20), (51, 100)]
)
def test_the_scale_rounds_up(peak: int, top: int) -> None:
    assert chart.scale_top(peak) == top


def test_an_empty_chart_has_no_bars() -> None:
    assert chart.build([]).bars == []


def test_code_spans_escape_first() -> None:
    assert code_spans("`a<b>` & <i>") == Markup("<code>a&lt;b&gt;</code> &amp; &lt;i&gt;")
    assert code_spans("one ` tick <x>") == Markup("one ` tick &lt;x&gt;")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/o/r/pull/1", "https://github.com/o/r/pull/1"),
        ("http://h/x", "http://h/x"),
        ("file:///tmp/forge/pulls/1", "file:///tmp/forge/pulls/1"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        (" javascript:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:x", None),
        ("//evil.example/x", None),
        ("", None),
        (None, None),
        (3, None),
    ],
)
def test_only_links_that_cannot_run_code_are_links(url: object, expected: str | None) -> None:
    assert safe_href(url) == expected


def test_times_read_as_utc() -> None:
    assert when(T0) == "2026-03-02 10:00:00 UTC"
    assert when("2026-03-02T10:00:00.123456Z") == "2026-03-02 10:00:00.123"
    assert when(None) == ""


def test_every_template_escapes_what_it_is_given() -> None:
    env = environment()
    html = env.get_template("missing.html").render(what="<script>x</script>")
    assert "<script>x" not in html and "&lt;script&gt;x" in html
