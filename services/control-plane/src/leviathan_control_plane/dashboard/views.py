"""What each page shows, as pure functions of what the read side returns.

No I/O here: the routes fetch (queries.reader) and pass the results in, so
every rule of a page (a task's state, which reason text goes where) is tested
as a table of plain values. Reason texts come from leviathan_core.reason_texts,
the same lines the reason-code reference is generated from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leviathan_control_plane.queries.cycles import CycleRecord, TaskVerdictRecord
from leviathan_core.reason_texts import CYCLE_REASONS, FAILURE_REASONS, TASK_REASONS
from leviathan_core.state import AttemptSummary, OpenPullRequest, TargetState

UNKNOWN_CODE = "no explanation is recorded for this code"
DETAIL_CHARS = 400


@dataclass(frozen=True)
class Reason:
    """A reason code with its words (and, for a cycle reason, what to do)."""

    code: str
    text: str
    remedy: str | None = None


def cycle_reason(code: str) -> Reason:
    meaning, remedy = CYCLE_REASONS.get(code, (UNKNOWN_CODE, None))
    return Reason(code, meaning, remedy)


def task_reason(code: str) -> Reason:
    return Reason(code, TASK_REASONS.get(code, UNKNOWN_CODE))


def failure_reason(code: str) -> Reason:
    who, text = FAILURE_REASONS.get(code, ("", UNKNOWN_CODE))
    return Reason(code, f"{text} (recorded by the {who})" if who else text)


@dataclass(frozen=True)
class CycleView:
    occurred_at: datetime
    action: str
    reason: Reason | None
    task_id: str | None
    attempt_id: str | None
    messages: tuple[str, ...]


def cycle_view(record: CycleRecord | None) -> CycleView | None:
    if record is None:
        return None
    return CycleView(
        occurred_at=record.occurred_at,
        action=record.action,
        reason=cycle_reason(record.reason) if record.reason else None,
        task_id=record.task_id,
        attempt_id=record.attempt_id,
        messages=record.messages,
    )


@dataclass(frozen=True)
class TargetRow:
    """One target at a glance."""

    target_id: str
    paused: bool
    pause_reason: str | None
    consecutive_failures: int
    breaker_open: bool
    running: list[AttemptSummary]
    open_prs: list[OpenPullRequest]
    last_cycle: CycleView | None
    tokens_today: int
    updated_at: datetime | None


def target_row(
    state: TargetState, last: CycleRecord | None, updated_at: datetime | None
) -> TargetRow:
    """The breaker counts as open when the newest cycle stopped on it: the threshold is the
    scheduler's (the target file), not the control plane's."""
    return TargetRow(
        target_id=state.target_id,
        paused=state.paused,
        pause_reason=state.pause_reason,
        consecutive_failures=state.consecutive_failures,
        breaker_open=last is not None and last.reason == "breaker_open",
        running=list(state.running_attempts),
        open_prs=list(state.open_prs),
        last_cycle=cycle_view(last),
        tokens_today=state.tokens_today,
        updated_at=updated_at,
    )


@dataclass(frozen=True)
class TaskRow:
    """One backlog task: what it is, where it stands and why."""

    task_id: str
    title: str | None
    state: str
    reasons: list[Reason]
    messages: tuple[str, ...]
    attempts_used: int
    pull: OpenPullRequest | None
    last_attempt: AttemptSummary | None


def task_state(
    verdict: TaskVerdictRecord | None,
    pull: OpenPullRequest | None,
    running: bool,
    selected: bool,
) -> str:
    """In words, from the strongest fact down: its PR, a running attempt, the last verdict."""
    if pull is not None:
        return "PR open"
    if running:
        return "attempt running"
    if verdict is None:
        return "not in the last cycle's record"
    if selected:
        return "selected"
    return "eligible" if verdict.eligible else "skipped"


def task_rows(
    state: TargetState,
    last: CycleRecord | None,
    titles: Mapping[str, str],
    attempts: Sequence[AttemptSummary],
) -> list[TaskRow]:
    """Tasks in the backlog's order as the last cycle judged them, then the tasks that
    have attempts but are not in that record (removed, or past the record's cap)."""
    verdicts = list(last.tasks) if last is not None else []
    order = [v.task_id for v in verdicts]
    seen = set(order)
    for attempt in attempts:  # newest first: the most recently worked-on tasks first
        if attempt.task_id is not None and attempt.task_id not in seen:
            order.append(attempt.task_id)
            seen.add(attempt.task_id)
    by_id = {v.task_id: v for v in verdicts}
    pulls = {p.task_id: p for p in state.open_prs if p.task_id is not None}
    running = {a.task_id for a in state.running_attempts}
    latest: dict[str, AttemptSummary] = {}
    for attempt in attempts:
        if attempt.task_id is not None:
            latest.setdefault(attempt.task_id, attempt)
    selected = last.task_id if last is not None and last.action == "dispatch" else None
    rows = []
    for task_id in order:
        verdict = by_id.get(task_id)
        rows.append(
            TaskRow(
                task_id=task_id,
                title=titles.get(task_id),
                state=task_state(
                    verdict, pulls.get(task_id), task_id in running, task_id == selected
                ),
                reasons=[task_reason(code) for code in (verdict.reasons if verdict else ())],
                messages=verdict.messages if verdict else (),
                attempts_used=state.attempts_per_task.get(task_id, 0),
                pull=pulls.get(task_id),
                last_attempt=latest.get(task_id),
            )
        )
    return rows


@dataclass(frozen=True)
class EventRow:
    """One event of an attempt's timeline, summed up in a line."""

    occurred_at: str
    type: str
    actor: str
    summary: str
    reason: Reason | None = None
    link: str | None = None
    payload: str = ""


def _summary(kind: str, payload: Mapping[str, Any]) -> tuple[str, Reason | None, str | None]:
    if kind == "attempt.failed":
        code = str(payload.get("reason", ""))
        return str(payload.get("message", "")), failure_reason(code), None
    if kind == "pr.created":
        url = payload.get("pr_url")
        return (
            f"PR #{payload.get('pr_number')} on {payload.get('branch')}",
            None,
            (url if isinstance(url, str) else None),
        )
    if kind == "attempt.created":
        title = payload.get("title")
        number = payload.get("attempt_number")
        return f"attempt {number}: {title}" if title else f"attempt {number}", None, None
    if kind == "scheduler.cycle":
        return f"{payload.get('action')} {payload.get('reason') or ''}".strip(), None, None
    return "", None, None


def event_row(stored: Mapping[str, Any]) -> EventRow:
    """A stored event (as the API serves it) as a timeline line; never fails on a body."""
    event = stored.get("event")
    event = event if isinstance(event, dict) else {}
    payload = event.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    kind = str(event.get("type", ""))
    summary, reason, link = _summary(kind, payload)
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    if len(text) > DETAIL_CHARS:
        text = text[:DETAIL_CHARS] + " …"
    if stored.get("unreadable"):
        summary = "the stored body does not read as an event; the envelope is shown"
    return EventRow(
        occurred_at=str(event.get("occurred_at", "")),
        type=kind,
        actor=str(event.get("actor", "")),
        summary=summary,
        reason=reason,
        link=link,
        payload=text,
    )


@dataclass(frozen=True)
class AttemptView:
    """An attempt with its timeline."""

    attempt: AttemptSummary
    reason: Reason | None
    events: list[EventRow] = field(default_factory=list)


def attempt_view(attempt: AttemptSummary, events: Sequence[Mapping[str, Any]]) -> AttemptView:
    return AttemptView(
        attempt=attempt,
        reason=failure_reason(attempt.reason) if attempt.reason else None,
        events=[event_row(e) for e in events],
    )
