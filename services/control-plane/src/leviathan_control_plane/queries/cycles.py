"""The newest ``scheduler.cycle`` record of a target and the titles of its tasks.

The cycle record is the scheduler's decision with a verdict per task (ids,
reason codes, messages); the titles come from ``attempt.created`` payloads,
since the backlog itself lives in the target's repository. Both payloads are
free-form at intake, so reading them never fails: a field of the wrong shape
reads as missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, desc, select

from leviathan_control_plane.log import schema
from leviathan_control_plane.log.jsonbody import MAX_STORED_DEPTH, read_json
from leviathan_core.events import EventType

# attempt.created events read for titles: the newest ones of the target.
TITLE_EVENTS = 1000


@dataclass(frozen=True)
class TaskVerdictRecord:
    """One task as the cycle judged it."""

    task_id: str
    eligible: bool
    reasons: tuple[str, ...]
    messages: tuple[str, ...]


@dataclass(frozen=True)
class CycleRecord:
    """What one cycle decided, and why."""

    event_id: str
    occurred_at: datetime
    action: str
    reason: str | None
    task_id: str | None
    attempt_id: str | None
    messages: tuple[str, ...]
    tasks: tuple[TaskVerdictRecord, ...]
    tasks_total: int
    task_reason_counts: dict[str, int]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _verdict(value: Any) -> TaskVerdictRecord | None:
    if not isinstance(value, dict):
        return None
    name = value.get("id")
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)  # an invalid task is named by its index
    if not isinstance(name, str):
        return None
    return TaskVerdictRecord(
        task_id=name,
        eligible=value.get("eligible") is True,
        reasons=_texts(value.get("reasons")),
        messages=_texts(value.get("messages")),
    )


def cycle_record(event_id: str, occurred_at: datetime, payload: Any) -> CycleRecord:
    """A stored ``scheduler.cycle`` payload as a record; odd fields read as missing."""
    p = payload if isinstance(payload, dict) else {}
    listed = p.get("tasks")
    raw_tasks: list[Any] = listed if isinstance(listed, list) else []
    tasks = tuple(v for v in (_verdict(t) for t in raw_tasks) if v is not None)
    total = p.get("tasks_total")
    counts = p.get("task_reason_counts")
    return CycleRecord(
        event_id=event_id,
        occurred_at=occurred_at,
        action=_text(p.get("action")) or "unknown",
        reason=_text(p.get("reason")),
        task_id=_text(p.get("task_id")),
        attempt_id=_text(p.get("attempt_id")),
        messages=_texts(p.get("messages")),
        tasks=tasks,
        tasks_total=total if isinstance(total, int) and not isinstance(total, bool) else len(tasks),
        task_reason_counts={
            k: v
            for k, v in (counts.items() if isinstance(counts, dict) else ())
            if isinstance(v, int) and not isinstance(v, bool)
        },
    )


def _payload(body: str) -> Any:
    try:
        event = read_json(body, max_depth=MAX_STORED_DEPTH)
    except ValueError:
        return None
    return event.get("payload") if isinstance(event, dict) else None


def last_cycle(engine: Engine, target_id: str) -> CycleRecord | None:
    """The target's newest cycle record in log order, or None before its first cycle."""
    e = schema.events
    query = (
        select(e.c.event_id, e.c.occurred_at, e.c.body)
        .where(e.c.target_id == target_id, e.c.type == EventType.SCHEDULER_CYCLE.value)
        .order_by(desc(e.c.id))
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return cycle_record(row.event_id, row.occurred_at, _payload(row.body))


def titles_from(payloads: list[tuple[str, Any]]) -> dict[str, str]:
    """Task id -> title from ``(task_id, payload)`` pairs in log order; the newest title wins."""
    titles: dict[str, str] = {}
    for task_id, payload in payloads:
        title = payload.get("title") if isinstance(payload, dict) else None
        if isinstance(title, str) and title:
            titles[task_id] = title
    return titles


def task_titles(engine: Engine, target_id: str) -> dict[str, str]:
    """The titles the scheduler recorded for the target's tasks when it created attempts."""
    e = schema.events
    query = (
        select(e.c.task_id, e.c.body)
        .where(
            e.c.target_id == target_id,
            e.c.type == EventType.ATTEMPT_CREATED.value,
            e.c.task_id.is_not(None),
        )
        .order_by(desc(e.c.id))
        .limit(TITLE_EVENTS)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return titles_from([(r.task_id, _payload(r.body)) for r in reversed(rows)])
