"""Attempts: the latest ones, the failed ones, and one attempt with its timeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, desc, select

from leviathan_control_plane.log import schema
from leviathan_control_plane.queries.stored import stored_event
from leviathan_core.state import AttemptSummary


def attempt_summary(m: Mapping[Any, Any]) -> AttemptSummary:
    """An attempts row as the summary the scheduler and the API share."""
    fields = AttemptSummary.model_fields
    return AttemptSummary.model_validate({k: v for k, v in m.items() if k in fields})


def attempts(
    engine: Engine, target_id: str | None, limit: int, *, failed: bool
) -> list[AttemptSummary]:
    """Newest first: by creation, or for failures by when they failed."""
    a = schema.attempts
    query = select(a)
    if target_id is not None:
        query = query.where(a.c.target_id == target_id)
    if failed:
        query = query.where(a.c.status == "failed").order_by(desc(a.c.updated_at))
    else:
        query = query.order_by(desc(a.c.created_at))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(desc(a.c.attempt_id)).limit(limit)).mappings()
        return [attempt_summary(m) for m in rows]


def attempt(engine: Engine, attempt_id: str) -> tuple[AttemptSummary, list[dict[str, Any]]] | None:
    """One attempt and its events in log order, or None when there is no such attempt."""
    a, e = schema.attempts, schema.events
    with engine.connect() as conn:
        row = conn.execute(select(a).where(a.c.attempt_id == attempt_id)).mappings().first()
        if row is None:
            return None
        events = conn.execute(select(e).where(e.c.attempt_id == attempt_id).order_by(e.c.id)).all()
    return attempt_summary(row), [stored_event(r) for r in events]
