"""The write routes: append events (one or a batch), the seed-era bundle, the breaker reset.

Bodies are typed (api.bodies) and read strictly; the appending itself is
shared in api.appends. The GitHub webhook is a write too, with its own
signature check instead of the token (api.webhooks).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from leviathan_control_plane.api.appends import append_strict, ingest, reset_event
from leviathan_control_plane.api.bodies import BundleBody, EventsBody, ResetBody, StrictBodyRoute
from leviathan_control_plane.api.errors import WRITE_ERRORS
from leviathan_control_plane.api.services import Services, get_services
from leviathan_control_plane.models import (
    TARGET_PATTERN,
    BatchResponse,
    BundleResponse,
    EventBatch,
    SingleEventResponse,
)

router = APIRouter(prefix="/v1", tags=["writes"], route_class=StrictBodyRoute)
ServicesDep = Annotated[Services, Depends(get_services)]
TargetPath = Annotated[str, Path(pattern=TARGET_PATTERN)]


@router.post(
    "/events",
    status_code=201,
    response_model=SingleEventResponse | BatchResponse,
    responses={
        **WRITE_ERRORS,
        200: {
            "model": SingleEventResponse | BatchResponse,
            "description": "Every event was already stored",
        },
    },
    summary="Append one event or a batch (atomic, idempotent by event_id)",
)
async def post_events(body: EventsBody, services: ServicesDep) -> JSONResponse:
    is_batch = isinstance(body, EventBatch)
    events = body.events if isinstance(body, EventBatch) else [body]
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
        answer = {"results": results, "created": created, "duplicates": len(results) - created}
    else:
        answer = {**results[0], "event": events[0].wire()}
    return JSONResponse(answer, status_code=201 if created else 200)


@router.post(
    "/events/ingest",
    status_code=201,
    response_model=BundleResponse,
    responses={
        **WRITE_ERRORS,
        200: {"model": BundleResponse, "description": "Every event was already stored"},
        207: {"model": BundleResponse, "description": "Some events were rejected"},
    },
    summary="Seed-era bundle form; answers per event (created, duplicate or rejected)",
)
async def ingest_bundle(
    body: BundleBody, response: Response, services: ServicesDep
) -> BundleResponse:
    answer, status = await run_in_threadpool(ingest, services, body)
    response.status_code = status
    return answer


@router.post(
    "/targets/{target_id}/breaker/reset",
    status_code=201,
    response_model=SingleEventResponse,
    responses={
        **WRITE_ERRORS,
        200: {"model": SingleEventResponse, "description": "This reset was already recorded"},
    },
    summary="Close the breaker: records a breaker.reset event with the reason",
)
async def reset_breaker(
    body: ResetBody, response: Response, services: ServicesDep, target_id: TargetPath
) -> SingleEventResponse:
    event = await run_in_threadpool(reset_event, services, target_id, body)
    outcome = (await run_in_threadpool(append_strict, services, [event]))[0]
    response.status_code = 201 if outcome.status == "created" else 200
    return SingleEventResponse(
        index=0,
        event_id=outcome.event_id,
        status=outcome.status,
        sequence=outcome.sequence,
        hash=outcome.hash,
        event=event,
    )
