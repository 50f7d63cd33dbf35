"""POST /v1/events (one or a batch), the seed-era bundle form, reads and verify."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from leviathan_control_plane.errors import ERROR_RESPONSES, WRITE_ERRORS, ApiError
from leviathan_control_plane.intake import bundle_event, parse_bundle, parse_events
from leviathan_control_plane.models import (
    TARGET_PATTERN,
    BatchResponse,
    BundleResponse,
    BundleResult,
    ErrorItem,
    EventPage,
    SingleEventResponse,
    VerifyReport,
)
from leviathan_control_plane.projection import Appended
from leviathan_control_plane.services import Services, get_services
from leviathan_control_plane.store import BatchRejected, Refused
from leviathan_shared.events import ID_PATTERN, Event, EventType, read_time

router = APIRouter(prefix="/v1/events", tags=["events"])
ServicesDep = Annotated[Services, Depends(get_services)]


def _body(schema_ref: str) -> dict[str, object]:
    ref = {"$ref": f"#/components/schemas/{schema_ref}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


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


def parse_since(value: str) -> datetime:
    """The same reading as every time in a body (read_time); without an offset, UTC."""
    try:
        moment = read_time(value)
    except ValueError as exc:
        item = ErrorItem(loc=["query", "since"], msg=str(exc), type="value_error")
        raise ApiError(422, f"query.since: {value!r} {exc}", errors=[item]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.post(
    "",
    status_code=201,
    response_model=SingleEventResponse | BatchResponse,
    responses={
        **WRITE_ERRORS,
        200: {
            "model": SingleEventResponse | BatchResponse,
            "description": "Every event was already stored",
        },
    },
    openapi_extra=_body("EventOrBatch"),
    summary="Append one event or a batch (atomic, idempotent by event_id)",
)
async def post_events(request: Request, services: ServicesDep) -> JSONResponse:
    raw = await request.body()
    events, is_batch = await run_in_threadpool(parse_events, raw, services.max_batch_events)
    outcomes = await run_in_threadpool(append_strict, services, events)
    created = sum(1 for o in outcomes if o.status == "created")
    # Plain dicts of the declared models: a 1,000-event answer skips a second validation.
    results = [
        {
            "index": i,
            "event_id": o.event_id,
            "status": o.status,
            "sequence": o.sequence,
            "hash": o.hash,
        }
        for i, o in enumerate(outcomes)
    ]
    if is_batch:
        body = {"results": results, "created": created, "duplicates": len(results) - created}
    else:
        body = {**results[0], "event": events[0].wire()}
    return JSONResponse(body, status_code=201 if created else 200)


def _ingest(services: Services, raw: bytes) -> tuple[BundleResponse, int]:
    bundle = parse_bundle(raw, services.max_batch_events)
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
            if isinstance(outcome, Refused):
                results[index] = BundleResult(
                    index=index,
                    event_id=outcome.event_id,
                    status="rejected",
                    reason=outcome.message,
                )
            else:
                results[index] = BundleResult(
                    index=index,
                    event_id=outcome.event_id,
                    status=outcome.status,
                    sequence=outcome.sequence,
                )
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


@router.post(
    "/ingest",
    status_code=201,
    response_model=BundleResponse,
    responses={
        **WRITE_ERRORS,
        200: {"model": BundleResponse, "description": "Every event was already stored"},
        207: {"model": BundleResponse, "description": "Some events were rejected"},
    },
    openapi_extra=_body("Bundle"),
    summary="Seed-era bundle form; answers per event (created, duplicate or rejected)",
)
async def ingest_bundle(
    request: Request, response: Response, services: ServicesDep
) -> BundleResponse:
    raw = await request.body()
    body, status = await run_in_threadpool(_ingest, services, raw)
    response.status_code = status
    return body


@router.get(
    "",
    response_model=EventPage,
    responses=ERROR_RESPONSES,
    summary="Events in arrival order, filtered, with a cursor",
)
def list_events(
    services: ServicesDep,
    target: Annotated[str | None, Query(pattern=TARGET_PATTERN)] = None,
    attempt: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    type: Annotated[EventType | None, Query()] = None,
    since: Annotated[
        str | None,
        Query(
            description="occurred_at >= since (RFC 3339)", json_schema_extra={"format": "date-time"}
        ),
    ] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    moment = parse_since(since) if since is not None else None
    events, last = services.reader.events(
        target=target,
        attempt=attempt,
        type_=type.value if type else None,
        since=moment,
        after=int(cursor or 0),
        limit=limit,
    )
    # Stored bodies are served as they are (see queries.stored_event), not re-validated.
    return JSONResponse({"events": events, "next_cursor": str(last) if last is not None else None})


@router.get(
    "/verify",
    response_model=VerifyReport,
    responses=ERROR_RESPONSES,
    summary="Recompute one target's hash chain",
)
def verify_chain(
    services: ServicesDep, target_id: Annotated[str, Query(pattern=TARGET_PATTERN)]
) -> VerifyReport:
    return services.reader.verify(target_id)
