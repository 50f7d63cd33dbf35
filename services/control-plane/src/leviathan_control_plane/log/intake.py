"""Turning request bodies into events, with errors that name the failing place.

Pure functions: bytes in, validated events (or an ApiError) out. Kept apart
from the routes so every rule can be tested on tables of bad inputs.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from leviathan_control_plane.errors import ApiError, describe, error_items
from leviathan_control_plane.log.jsonbody import JsonRefused, NotJson, read_json
from leviathan_control_plane.models import BreakerReset, Bundle, BundleEvent, ErrorItem
from leviathan_control_plane.projections.payload import MAX_INT64, payload_problems
from leviathan_core.events import Event, EventType

Body = TypeVar("Body", bound=BaseModel)


def parse_json(raw: bytes) -> Any:
    """Every JSON body goes through here: 400 when it is not JSON, 422 naming the rule
    when it is JSON the log will not hold (see log.jsonbody)."""
    try:
        return read_json(raw)
    except NotJson as exc:
        raise ApiError(400, f"request body {exc}") from None
    except JsonRefused as exc:
        item = ErrorItem(loc=["body"], msg=str(exc), type="value_error")
        raise ApiError(422, f"body: {exc}", errors=[item]) from None


def validate_event(data: Any, prefix: list[str | int]) -> Event:
    """One event, or an ApiError(422) whose errors carry ``prefix`` (e.g. body.events.3)."""
    try:
        event = Event.model_validate(data)
    except ValidationError as exc:
        items = error_items(exc.errors(), prefix)
        raise ApiError(422, describe(items), errors=items) from None
    problems = payload_problems(event)
    if event.fence is not None and event.fence > MAX_INT64:
        problems.append(f"fence must be at most {MAX_INT64}")
    if problems:
        items = [
            ErrorItem(
                loc=[*prefix, "fence" if p.startswith("fence") else "payload"],
                msg=p,
                type="value_error",
            )
            for p in problems
        ]
        raise ApiError(422, describe(items), errors=items, event_id=event.event_id)
    return event


def parse_events(raw: bytes, max_batch: int) -> tuple[list[Event], bool]:
    """The events of a POST /v1/events body and whether it was a batch."""
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ApiError(
            422,
            'body must be a JSON object: one event or {"events": [...]}',
            errors=[ErrorItem(loc=["body"], msg="not an object", type="type_error")],
        )
    if "events" not in data:
        return [validate_event(data, ["body"])], False
    items = data["events"]
    extra = sorted(set(data) - {"events"})
    if extra:
        raise ApiError(
            422,
            f"a batch holds only 'events'; unexpected key {extra[0]!r}",
            errors=[
                ErrorItem(loc=["body", extra[0]], msg="unexpected key", type="extra_forbidden")
            ],
        )
    if not isinstance(items, list) or not items:
        raise ApiError(
            422,
            "body.events must be a non-empty list of events",
            errors=[
                ErrorItem(loc=["body", "events"], msg="not a non-empty list", type="type_error")
            ],
        )
    if len(items) > max_batch:
        raise ApiError(413, f"batch of {len(items)} events exceeds the cap of {max_batch}")
    events = []
    for index, item in enumerate(items):
        try:
            events.append(validate_event(item, ["body", "events", index]))
        except ApiError as exc:
            exc.body.index = index
            exc.body.detail = f"event {index}: {exc.body.detail}"
            raise
    return events, True


def parse_bundle(raw: bytes, max_batch: int) -> Bundle:
    """The seed-era bundle; its size is capped before any event in it is validated."""
    data = parse_json(raw)
    items = data.get("events") if isinstance(data, dict) else None
    if isinstance(items, list) and len(items) > max_batch:
        raise ApiError(413, f"bundle of {len(items)} events exceeds the cap of {max_batch}")
    return _body_model(Bundle, data)


def parse_reset(raw: bytes) -> BreakerReset:
    """The body of POST /v1/targets/{target_id}/breaker/reset."""
    return _body_model(BreakerReset, parse_json(raw))


def _body_model(model: type[Body], data: Any) -> Body:
    """``data`` as ``model``, or an ApiError(422) whose errors sit under ``body``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        items = error_items(exc.errors(), ["body"])
        raise ApiError(422, describe(items), errors=items) from None


def bundle_event(target: str, item: BundleEvent) -> Event:
    """Map the seed's fields onto the envelope; raises ValueError with the reason."""
    try:
        kind = EventType(item.event_type)
    except ValueError:
        known = ", ".join(t.value for t in EventType)
        raise ValueError(f"unknown event_type {item.event_type!r} (known: {known})") from None
    payload = item.payload
    stamp = item.timestamp if item.timestamp.tzinfo else item.timestamp.replace(tzinfo=UTC)
    fence = payload.get("fence")
    data = {
        "event_id": item.event_id,
        "type": kind,
        "target_id": target,
        "attempt_id": payload.get("attempt_id"),
        "task_id": payload.get("task_id"),
        "occurred_at": stamp,
        "actor": item.actor_id,
        "fence": fence if isinstance(fence, int) and not isinstance(fence, bool) else None,
        "payload": payload,
    }
    try:
        return validate_event(data, ["payload"])
    except ApiError as exc:
        raise ValueError(exc.body.detail) from None
