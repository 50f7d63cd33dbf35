"""Serving rows of the event log: as stored, and never failing on one.

The body is served as stored (it is what the hash chain covers), not
re-validated against today's model; it only has to pass the strict JSON
reader up to ``MAX_STORED_DEPTH``. A row that does not keeps its place in the
page with its envelope from the indexed columns and a marker saying why.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from leviathan_control_plane.log.jsonbody import MAX_STORED_DEPTH, read_json


def utc_text(moment: datetime) -> str:
    """The same text pydantic writes for an aware UTC time (``...Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


def stored_event(row: Any) -> dict[str, Any]:
    """A row as the JSON of ``StoredEvent``; no body the store holds can make it fail."""
    answer: dict[str, Any] = {
        "sequence": row.sequence,
        "hash": row.hash,
        "prev_hash": row.prev_hash,
        "received_at": utc_text(row.received_at),
    }
    try:
        event = read_json(row.body, max_depth=MAX_STORED_DEPTH)
        if not isinstance(event, dict):
            raise ValueError(f"the body is a JSON {type(event).__name__}, not an object")
    except ValueError as exc:  # NotJson and JsonRefused are ValueErrors
        return {**answer, "event": _envelope(row), "unreadable": _unreadable(row.body, exc)}
    return {**answer, "event": event, "unreadable": None}


def _envelope(row: Any) -> dict[str, Any]:
    """The event's envelope from its indexed columns, for a body that cannot be served."""
    return {
        "event_id": row.event_id,
        "type": row.type,
        "target_id": row.target_id,
        "attempt_id": row.attempt_id,
        "task_id": row.task_id,
        "occurred_at": utc_text(row.occurred_at),
        "actor": row.actor,
        "fence": row.fence,
        "payload": {},
    }


def _unreadable(body: str, exc: ValueError) -> dict[str, str]:
    # No UTF-8 store holds a lone surrogate, but a reply must never depend on that.
    text = body.encode("utf-8", "replace").decode("utf-8")
    digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
    return {"reason": str(exc), "sha256": digest, "body": text}
