"""Attempts over time: the events of a page of attempts, and attempt outcomes per UTC day.

Both read the attempts projection or the log's attempt index, never the whole log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, select

from leviathan_control_plane.log import schema
from leviathan_control_plane.queries.stored import stored_event

# Outcomes as the chart groups them: the terminal statuses, and the rest as in flight.
OUTCOMES = ("succeeded", "failed", "in_flight")


@dataclass(frozen=True)
class DayOutcomes:
    """Attempts created on one UTC day, by what became of them."""

    day: date
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.in_flight


def events_of(engine: Engine, attempt_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each attempt's events in log order (as ``GET /v1/attempts/{id}`` serves them)."""
    answer: dict[str, list[dict[str, Any]]] = {a: [] for a in attempt_ids}
    if not attempt_ids:
        return answer
    e = schema.events
    with engine.connect() as conn:
        rows = conn.execute(
            select(e).where(e.c.attempt_id.in_(list(attempt_ids))).order_by(e.c.id)
        ).all()
    for row in rows:
        answer[row.attempt_id].append(stored_event(row))
    return answer


def outcome_of(status: str) -> str:
    return status if status in ("succeeded", "failed") else "in_flight"


def by_day(rows: Iterable[tuple[datetime, str]], since: date, until: date) -> list[DayOutcomes]:
    """Count ``(created_at, status)`` rows per UTC day from ``since`` to ``until``; quiet days
    are zeros, rows outside the range are left out."""
    counts: dict[date, dict[str, int]] = {}
    for created_at, status in rows:
        day = created_at.astimezone(UTC).date()
        if since <= day <= until:
            bucket = counts.setdefault(day, {})
            outcome = outcome_of(status)
            bucket[outcome] = bucket.get(outcome, 0) + 1
    days = (until - since).days + 1
    return [
        DayOutcomes(since + timedelta(days=n), **counts.get(since + timedelta(days=n), {}))
        for n in range(max(days, 0))
    ]


def outcomes(engine: Engine, target_id: str | None, until: date, days: int) -> list[DayOutcomes]:
    """Attempts created in the ``days`` UTC days ending with ``until``, oldest day first."""
    since = until - timedelta(days=days - 1)
    a = schema.attempts
    query = select(a.c.created_at, a.c.status).where(
        a.c.created_at >= datetime.combine(since, time(), tzinfo=UTC),
        a.c.created_at < datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC),
    )
    if target_id is not None:
        query = query.where(a.c.target_id == target_id)
    with engine.connect() as conn:
        rows = [(r.created_at, r.status) for r in conn.execute(query)]
    return by_day(rows, since, until)
