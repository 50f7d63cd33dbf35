"""Summary, targets, state, attempts, failures and the breaker reset."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from leviathan_control_plane.errors import (
    ERROR_RESPONSES,
    WRITE_ERRORS,
    ApiError,
    describe,
    error_items,
)
from leviathan_control_plane.intake import parse_json
from leviathan_control_plane.models import (
    TARGET_PATTERN,
    AttemptList,
    AttemptTimeline,
    BreakerReset,
    ErrorBody,
    GraphSummary,
    SingleEventResponse,
    TargetList,
)
from leviathan_control_plane.routers.events import append_strict
from leviathan_control_plane.services import Services, get_services
from leviathan_shared.events import ID_PATTERN, Event, EventType, new_event
from leviathan_shared.state import TargetState

router = APIRouter(prefix="/v1", tags=["reads"])
ServicesDep = Annotated[Services, Depends(get_services)]
TargetPath = Annotated[str, Path(pattern=TARGET_PATTERN)]
TargetQuery = Annotated[str | None, Query(pattern=TARGET_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=500)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such attempt"}
}


@router.get(
    "/graph/summary",
    response_model=GraphSummary,
    responses=ERROR_RESPONSES,
    summary="Counts by node and edge type, recent events, breaker and pause states",
)
def graph_summary(services: ServicesDep) -> GraphSummary:
    return services.reader.summary()


@router.get(
    "/targets",
    response_model=TargetList,
    responses=ERROR_RESPONSES,
    summary="Every target that has events",
)
def list_targets(services: ServicesDep) -> TargetList:
    infos, _ = services.reader.targets()
    return TargetList(targets=infos)


@router.get(
    "/targets/{target_id}/state",
    response_model=TargetState,
    responses=ERROR_RESPONSES,
    summary="The facts the scheduler decides on (empty for an unknown target)",
)
def target_state(services: ServicesDep, target_id: TargetPath) -> TargetState:
    return services.reader.state(target_id)


@router.post(
    "/targets/{target_id}/breaker/reset",
    status_code=201,
    response_model=SingleEventResponse,
    responses={
        **WRITE_ERRORS,
        200: {"model": SingleEventResponse, "description": "This reset was already recorded"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/BreakerReset"}}
            },
        }
    },
    summary="Close the breaker: records a breaker.reset event with the reason",
)
async def reset_breaker(
    request: Request, response: Response, services: ServicesDep, target_id: TargetPath
) -> SingleEventResponse:
    data = parse_json(await request.body())
    try:
        body = BreakerReset.model_validate(data)
    except ValidationError as exc:
        items = error_items(exc, ["body"])
        raise ApiError(422, describe(items), errors=items) from None
    event = await run_in_threadpool(_reset_event, services, target_id, body)
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


def _reset_event(services: Services, target_id: str, body: BreakerReset) -> Event:
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


@router.get(
    "/attempts",
    response_model=AttemptList,
    responses=ERROR_RESPONSES,
    summary="Latest attempts, newest first",
)
def list_attempts(
    services: ServicesDep, target: TargetQuery = None, limit: Limit = 50
) -> AttemptList:
    return AttemptList(attempts=services.reader.attempts(target, limit, failed=False))


@router.get(
    "/failures",
    response_model=AttemptList,
    responses=ERROR_RESPONSES,
    summary="Latest failed attempts with their reason, newest first",
)
def list_failures(
    services: ServicesDep, target: TargetQuery = None, limit: Limit = 50
) -> AttemptList:
    return AttemptList(attempts=services.reader.attempts(target, limit, failed=True))


@router.get(
    "/attempts/{attempt_id}",
    response_model=AttemptTimeline,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="One attempt and its timeline",
)
def get_attempt(
    services: ServicesDep, attempt_id: Annotated[str, Path(pattern=ID_PATTERN)]
) -> JSONResponse:
    found = services.reader.attempt(attempt_id)
    if found is None:
        raise ApiError(404, f"no attempt {attempt_id!r}")
    attempt, events = found
    # Stored bodies are served as they are (see queries.stored_event), not re-validated.
    return JSONResponse({"attempt": attempt.model_dump(mode="json"), "events": events})
