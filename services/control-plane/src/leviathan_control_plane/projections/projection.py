"""How one event changes the projections (pure; no I/O).

The store loads the rows a batch touches into a ``Working`` set, calls
``apply`` for each event in order and writes the changed rows back in the
same transaction. ``apply`` checks every rule before it mutates anything, so
a refused event leaves the working set as it was.

Late events: an attempt's terminal event closes it, but the steps before the
end may still arrive after it (the dispatcher's spooled ``attempt.dispatched``,
a worker's ``attempt.started`` posted while the reconciler failed the
attempt). Those types (``LATE_TYPES``) are taken into the log and the
timeline and change no status or count; any other event for a terminal
attempt is refused (409), and a stale fence is refused as always.

Usage: ``attempt.usage`` never changes an attempt (nor creates one); it adds
its tokens to the target's row for the UTC day of its ``occurred_at`` and its
model. It is a late type too: tokens spent before the end are spent, even when
the reconciler ended the attempt first.
"""

from __future__ import annotations

from leviathan_control_plane.log.chain import next_link
from leviathan_control_plane.projections.payload import as_count
from leviathan_control_plane.projections.views import (
    Appended,
    AttemptView,
    PullView,
    Rejection,
    Stored,
    TargetView,
    UsageView,
    Working,
)
from leviathan_core.events import ATTEMPT_TYPES, Event, EventType
from leviathan_core.usage import usage_day, usage_of

STATUS_RANK = {"created": 0, "dispatched": 1, "running": 2, "succeeded": 3, "failed": 3}
TERMINAL = frozenset({"succeeded", "failed"})
EVENT_STATUS = {
    EventType.ATTEMPT_CREATED: "created",
    EventType.ATTEMPT_DISPATCHED: "dispatched",
    EventType.ATTEMPT_STARTED: "running",
    EventType.ATTEMPT_SUCCEEDED: "succeeded",
    EventType.ATTEMPT_FAILED: "failed",
}


# What happened before an attempt's end may be told after it (see the module docstring).
LATE_TYPES = frozenset(
    {
        EventType.ATTEMPT_CREATED,
        EventType.ATTEMPT_DISPATCHED,
        EventType.ATTEMPT_STARTED,
        EventType.ATTEMPT_USAGE,
    }
)


def _check(work: Working, event: Event) -> None:
    """Raise a Rejection if the log must refuse ``event``; mutate nothing."""
    if event.type not in ATTEMPT_TYPES or event.attempt_id is None:
        return
    attempt = work.attempts.get(event.attempt_id)
    if attempt is None:
        return
    if attempt.target_id != event.target_id:
        raise Rejection(409, f"attempt {attempt.attempt_id} belongs to target {attempt.target_id}")
    if attempt.status in TERMINAL and event.type not in LATE_TYPES:
        raise Rejection(
            409, f"attempt {attempt.attempt_id} is already {attempt.status}; no further events"
        )
    if event.fence is not None and attempt.fence is not None and event.fence < attempt.fence:
        raise Rejection(
            409,
            f"stale fence {event.fence} for attempt {attempt.attempt_id} "
            f"(current fence {attempt.fence})",
        )


def apply(work: Working, event: Event, body: str) -> Appended:
    """Append ``event`` to the working set, or say it is a duplicate; may raise Rejection."""
    stored = work.known.get(event.event_id)
    if stored is not None:
        if stored.body != body:
            raise Rejection(
                409, f"event_id {event.event_id} is already stored with different content"
            )
        return Appended(event.event_id, "duplicate", stored.sequence, stored.hash)
    _check(work, event)
    target = work.targets[event.target_id]
    sequence, digest = next_link(target.last_sequence, target.last_hash, body)
    work.new_events.append((event, body, sequence, target.last_hash, digest))
    work.known[event.event_id] = Stored(body, sequence, digest)
    target.last_sequence, target.last_hash = sequence, digest
    target.updated_at = event.occurred_at
    target.bump("events_by_type", event.type.value)
    target.bump("nodes", "Event")
    if event.attempt_id is not None:
        target.bump("edges", "RECORDED")
    _project(work, target, event, sequence)
    return Appended(event.event_id, "created", sequence, digest)


def _project(work: Working, target: TargetView, event: Event, sequence: int) -> None:
    kind = event.type
    if kind is EventType.ATTEMPT_USAGE:
        _add_usage(work, event)
    elif kind in ATTEMPT_TYPES and event.attempt_id is not None:
        _project_attempt(work, target, event, sequence)
    if kind is EventType.PR_CREATED:
        _open_pull(work, target, event)
    elif kind is EventType.PR_CLOSED:
        _close_pull(work, target, event)
    elif kind is EventType.BREAKER_RESET:
        target.consecutive_failures = 0
    elif kind is EventType.TARGET_PAUSED:
        reason = event.payload.get("reason")
        target.paused, target.pause_reason = True, str(reason) if reason is not None else None
    elif kind is EventType.TARGET_RESUMED:
        target.paused, target.pause_reason = False, None


def _project_attempt(work: Working, target: TargetView, event: Event, sequence: int) -> None:
    assert event.attempt_id is not None
    attempt = work.attempts.get(event.attempt_id)
    if attempt is None:
        attempt = AttemptView(
            attempt_id=event.attempt_id,
            target_id=event.target_id,
            status="created",
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
            first_sequence=sequence,
        )
        work.attempts[attempt.attempt_id] = attempt
        target.bump("nodes", "Attempt")
        target.bump("attempts_by_status", "created")
    elif attempt.status in TERMINAL:
        return  # a late event (LATE_TYPES): in the log and the timeline, the ending stands
    work.dirty_attempts.add(attempt.attempt_id)
    attempt.updated_at = max(attempt.updated_at, event.occurred_at)
    if event.fence is not None:
        attempt.fence = max(attempt.fence or 0, event.fence)
    if event.task_id and attempt.task_id is None:
        attempt.task_id = event.task_id
        _count_task(work, target, event.task_id)
    payload = event.payload
    if event.type is EventType.ATTEMPT_CREATED:
        attempt.created_at = min(attempt.created_at, event.occurred_at)
        if "attempt_number" in payload:
            attempt.attempt_number = as_count(payload["attempt_number"])
    new_status = EVENT_STATUS.get(event.type)
    if new_status is not None and STATUS_RANK[new_status] > STATUS_RANK[attempt.status]:
        target.bump("attempts_by_status", attempt.status, -1)
        target.bump("attempts_by_status", new_status)
        attempt.status = new_status
    if event.type is EventType.ATTEMPT_FAILED:
        attempt.reason, attempt.message = str(payload["reason"]), str(payload["message"])
        target.consecutive_failures += 1
    elif event.type is EventType.ATTEMPT_SUCCEEDED:
        target.consecutive_failures = 0
    if event.type in (EventType.PR_CREATED, EventType.ATTEMPT_SUCCEEDED):
        for key in ("branch", "commit", "pr_url"):
            if isinstance(payload.get(key), str):
                setattr(attempt, key, payload[key])
        if as_count(payload.get("pr_number")) is not None:
            attempt.pr_number = as_count(payload["pr_number"])


def _count_task(work: Working, target: TargetView, task_id: str) -> None:
    key = (target.target_id, task_id)
    if work.tasks.get(key, 0) == 0:
        target.bump("nodes", "Task")
        target.bump("edges", "HAS_TASK")
    work.tasks[key] = work.tasks.get(key, 0) + 1
    work.dirty_tasks.add(key)
    target.bump("edges", "HAS_ATTEMPT")


def _open_pull(work: Working, target: TargetView, event: Event) -> None:
    payload = event.payload
    key = (target.target_id, int(payload["pr_number"]))  # checked by payload_problems
    pull = work.pulls.get(key)
    attempt = work.attempts.get(event.attempt_id) if event.attempt_id else None
    if pull is None:
        target.bump("nodes", "PullRequest")
        if event.attempt_id is not None:
            target.bump("edges", "OPENED")
    if pull is None or not pull.is_open:
        target.open_prs += 1
    work.pulls[key] = PullView(
        target_id=target.target_id,
        pr_number=key[1],
        pr_url=str(payload["pr_url"]),
        branch=str(payload["branch"]),
        opened_at=event.occurred_at,
        attempt_id=event.attempt_id,
        task_id=event.task_id or (attempt.task_id if attempt else None),
    )
    work.dirty_pulls.add(key)


def _close_pull(work: Working, target: TargetView, event: Event) -> None:
    key = (target.target_id, int(event.payload["pr_number"]))
    pull = work.pulls.get(key)
    if pull is None or not pull.is_open:
        return
    pull.is_open, pull.closed_at = False, event.occurred_at
    target.open_prs -= 1
    work.dirty_pulls.add(key)


def _add_usage(work: Working, event: Event) -> None:
    """Add a report to its target's tokens of that UTC day and model."""
    report = usage_of(event.payload)  # checked at intake (payload_problems)
    key = (event.target_id, usage_day(event.occurred_at), report.model)
    row = work.usage.get(key)
    if row is None:
        row = work.usage[key] = UsageView(*key)
    row.prompt_tokens += report.prompt_tokens
    row.completion_tokens += report.completion_tokens
    row.total_tokens += report.spent
    row.reports += 1
    work.dirty_usage.add(key)
