"""The write routes: append events (one or a batch), the seed-era bundle, the breaker reset.

Bodies are read strictly by the intake (log.intake); the appending itself is
shared in api.appends. The GitHub webhook is a write too, with its own
signature check instead of the token (api.webhooks).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from leviathan_control_plane.api.appends import append_strict, ingest, reset_event
from leviathan_control_plane.api.errors import WRITE_ERRORS
from leviathan_control_plane.api.services import Services, get_services
from leviathan_control_plane.log.intake import parse_bundle, parse_events, parse_reset
from leviathan_control_plane.models import (
    TARGET_PATTERN,
    BatchResponse,
    BundleResponse,
    SingleEventResponse,
)

router = APIRouter(prefix="/v1", tags=["writes"])
ServicesDep = Annotated[Services, Depends(get_services)]
TargetPath = Annotated[str, Path(pattern=TARGET_PATTERN)]


def _body(schema_ref: str) -> dict[str, object]:
    """The request body in the document; the routes parse it themselves (log.intake)."""
    ref = {"$ref": f"#/components/schemas/{schema_ref}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


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
    openapi_extra=_body("Bundle"),
    summary="Seed-era bundle form; answers per event (created, duplicate or rejected)",
)
async def ingest_bundle(
    request: Request, response: Response, services: ServicesDep
) -> BundleResponse:
    raw = await request.body()
    bundle = await run_in_threadpool(parse_bundle, raw, services.max_batch_events)
    answer, status = await run_in_threadpool(ingest, services, bundle)
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
    openapi_extra=_body("BreakerReset"),
    summary="Close the breaker: records a breaker.reset event with the reason",
)
async def reset_breaker(
    request: Request, response: Response, services: ServicesDep, target_id: TargetPath
) -> SingleEventResponse:
    body = parse_reset(await request.body())
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
