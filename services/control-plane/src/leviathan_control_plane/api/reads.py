"""The read routes: summary, targets, state, usage, attempts, failures, events and verify.

Nothing here writes; every answer comes from the read side (queries.reader).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from leviathan_control_plane.api.errors import ERROR_RESPONSES
from leviathan_control_plane.api.services import Services, get_services
from leviathan_control_plane.errors import ApiError
from leviathan_control_plane.models import (
    TARGET_PATTERN,
    AttemptList,
    AttemptTimeline,
    ErrorBody,
    ErrorItem,
    EventPage,
    GraphSummary,
    TargetList,
    TargetStates,
    TargetUsage,
    VerifyReport,
)
from leviathan_control_plane.queries.state import MAX_BATCH
from leviathan_core.events import ID_PATTERN, EventType, read_time
from leviathan_core.state import TargetState

router = APIRouter(prefix="/v1", tags=["reads"])
ServicesDep = Annotated[Services, Depends(get_services)]
TargetPath = Annotated[str, Path(pattern=TARGET_PATTERN)]
TargetQuery = Annotated[str | None, Query(pattern=TARGET_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=500)]
DayQuery = Annotated[
    str | None,
    Query(
        description="the UTC day whose tokens to report (YYYY-MM-DD); default: today",
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        json_schema_extra={"format": "date"},
    ),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such attempt"}
}


def parse_since(value: str) -> datetime:
    """The same reading as every time in a body (read_time); without an offset, UTC."""
    try:
        moment = read_time(value)
    except ValueError as exc:
        item = ErrorItem(loc=["query", "since"], msg=str(exc), type="value_error")
        raise ApiError(422, f"query.since: {value!r} {exc}", errors=[item]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_day(value: str) -> date:
    """A calendar day as written (no number read as a time); 422 when it does not exist."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        item = ErrorItem(
            loc=["query", "day"], msg=f"is not a valid day ({exc})", type="value_error"
        )
        raise ApiError(
            422, f"query.day: {value!r} is not a valid day ({exc})", errors=[item]
        ) from None


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
    "/targets/states",
    response_model=TargetStates,
    responses=ERROR_RESPONSES,
    summary="The state of many targets in one request, in the order asked",
)
def target_states(
    services: ServicesDep,
    target: Annotated[
        list[Annotated[str, Query(pattern=TARGET_PATTERN)]],
        Query(min_length=1, max_length=MAX_BATCH, description="a target id; repeat for more"),
    ],
    day: DayQuery = None,
) -> TargetStates:
    return TargetStates(
        states=services.reader.states(target, parse_day(day) if day is not None else None)
    )


@router.get(
    "/targets/{target_id}/state",
    response_model=TargetState,
    responses=ERROR_RESPONSES,
    summary="The facts the scheduler decides on (empty for an unknown target)",
)
def target_state(services: ServicesDep, target_id: TargetPath, day: DayQuery = None) -> TargetState:
    return services.reader.state(target_id, parse_day(day) if day is not None else None)


@router.get(
    "/targets/{target_id}/usage",
    response_model=TargetUsage,
    responses=ERROR_RESPONSES,
    summary="Model tokens per UTC day for the last N days, by model (zeros for an unknown target)",
)
def target_usage(
    services: ServicesDep,
    target_id: TargetPath,
    days: Annotated[int, Query(ge=1, le=366, description="days ending today (UTC)")] = 7,
) -> TargetUsage:
    return services.reader.usage(target_id, days)


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
    # Stored bodies are served as they are (see queries.stored), not re-validated.
    return JSONResponse({"attempt": attempt.model_dump(mode="json"), "events": events})


@router.get(
    "/events",
    response_model=EventPage,
    responses=ERROR_RESPONSES,
    summary="Events in arrival order, filtered, with a cursor",
)
def list_events(
    services: ServicesDep,
    target: TargetQuery = None,
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
    # Stored bodies are served as they are (see queries.stored), not re-validated.
    return JSONResponse({"events": events, "next_cursor": str(last) if last is not None else None})


@router.get(
    "/events/verify",
    response_model=VerifyReport,
    responses=ERROR_RESPONSES,
    summary="Recompute one target's hash chain",
)
def verify_chain(
    services: ServicesDep, target_id: Annotated[str, Query(pattern=TARGET_PATTERN)]
) -> VerifyReport:
    return services.reader.verify(target_id)
