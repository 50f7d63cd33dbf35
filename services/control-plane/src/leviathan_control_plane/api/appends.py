"""The write side the write routes share: appending, counting and the outcomes.

Kept apart from the routes so each route is only HTTP (status codes, answer
shapes) and every write goes through the same append and metrics.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC

from leviathan_control_plane.api.services import Services
from leviathan_control_plane.errors import ApiError
from leviathan_control_plane.log.intake import bundle_event
from leviathan_control_plane.log.store import BatchRejected, Refused
from leviathan_control_plane.models import BreakerReset, Bundle, BundleResponse, BundleResult
from leviathan_control_plane.projections.views import Appended
from leviathan_core.events import Event, EventType, new_event


def append_strict(services: Services, events: list[Event]) -> list[Appended]:
    """Append all or nothing; a refused event becomes an ApiError naming its index."""
    try:
        outcomes, created = services.store.append(events, atomic=True)
    except BatchRejected as exc:
        raise ApiError(exc.status, str(exc), index=exc.index, event_id=exc.event_id) from None
    count_created(services, created)
    return [o for o in outcomes if isinstance(o, Appended)]


def count_created(services: Services, created: list[Event]) -> None:
    """One counter update per event type, not per event (a batch holds a thousand)."""
    for kind, number in Counter(event.type.value for event in created).items():
        services.metrics.events.labels(kind).inc(number)


def ingest(services: Services, bundle: Bundle) -> tuple[BundleResponse, int]:
    """Append a seed-era bundle leniently: each event is created, a duplicate or rejected.

    Returns the answer and its status: 207 when any was rejected, else 201 when
    any was created, else 200.
    """
    results: list[BundleResult | None] = [None] * len(bundle.events)
    valid: list[tuple[int, Event]] = []
    for index, item in enumerate(bundle.events):
        try:
            valid.append((index, bundle_event(bundle.target, item)))
        except ValueError as exc:
            results[index] = BundleResult(
                index=index, event_id=item.event_id, status="rejected", reason=str(exc)
            )
    if valid:
        outcomes, created = services.store.append([e for _, e in valid], atomic=False)
        count_created(services, created)
        for (index, _), outcome in zip(valid, outcomes, strict=True):
            results[index] = _bundle_result(index, outcome)
    final = [r for r in results if r is not None]
    counts = {
        s: sum(1 for r in final if r.status == s) for s in ("created", "duplicate", "rejected")
    }
    status = 207 if counts["rejected"] else 201 if counts["created"] else 200
    body = BundleResponse(
        bundle_id=bundle.bundle_id,
        target=bundle.target,
        results=final,
        created=counts["created"],
        duplicates=counts["duplicate"],
        rejected=counts["rejected"],
    )
    return body, status


def _bundle_result(index: int, outcome: Appended | Refused) -> BundleResult:
    if isinstance(outcome, Refused):
        return BundleResult(
            index=index, event_id=outcome.event_id, status="rejected", reason=outcome.message
        )
    return BundleResult(
        index=index, event_id=outcome.event_id, status=outcome.status, sequence=outcome.sequence
    )


def reset_event(services: Services, target_id: str, body: BreakerReset) -> Event:
    """The reset's event; a retry with the same id (and no time) repeats the stored one."""
    occurred_at = body.occurred_at
    if occurred_at is not None and occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    if body.event_id and occurred_at is None:
        earlier = services.reader.stored(body.event_id)
        if earlier is not None and earlier.type is EventType.BREAKER_RESET:
            occurred_at = earlier.occurred_at
    return new_event(
        EventType.BREAKER_RESET,
        target_id=target_id,
        actor=body.actor,
        payload={"reason": body.reason},
        occurred_at=occurred_at,
        event_id=body.event_id or f"breaker.reset:{uuid.uuid4().hex}",
    )
