"""Ranges of the event log, by indexed filters, and one stored event by id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from leviathan_control_plane.log import schema
from leviathan_control_plane.log.jsonbody import MAX_STORED_DEPTH, read_json
from leviathan_control_plane.queries.stored import stored_event
from leviathan_core.events import Event


def events(
    engine: Engine,
    *,
    target: str | None,
    attempt: str | None,
    type_: str | None,
    since: datetime | None,
    after: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of events in arrival order after row ``after``, and the next cursor."""
    e = schema.events
    query = select(e).where(e.c.id > after)
    for column, value in (
        (e.c.target_id, target),
        (e.c.attempt_id, attempt),
        (e.c.type, type_),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(e.c.occurred_at >= since)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(e.c.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [stored_event(r) for r in rows], (rows[-1].id if more and rows else None)


def stored(engine: Engine, event_id: str) -> Event | None:
    """The stored event, or None when there is none or its body no longer reads as one."""
    e = schema.events
    with engine.connect() as conn:
        body = conn.execute(select(e.c.body).where(e.c.event_id == event_id)).scalar()
    if body is None:
        return None
    try:
        return Event.model_validate(read_json(body, max_depth=MAX_STORED_DEPTH))
    except ValueError:  # NotJson, JsonRefused and pydantic's ValidationError
        return None
