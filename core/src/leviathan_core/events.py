"""The event envelope every service posts to the control plane.

One envelope type for all events keeps the log uniform; the payload is free
form except for the few fields that projections depend on, which are checked
here so that a bad event is refused at the edge instead of corrupting state.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,199}$"
CODE_PATTERN: Final = r"^[a-z][a-z0-9_]*(:[a-z0-9_]+)?$"


class EventType(StrEnum):
    ATTEMPT_CREATED = "attempt.created"
    ATTEMPT_DISPATCHED = "attempt.dispatched"
    ATTEMPT_STARTED = "attempt.started"
    PR_CREATED = "pr.created"
    PR_CLOSED = "pr.closed"
    ATTEMPT_SUCCEEDED = "attempt.succeeded"
    ATTEMPT_FAILED = "attempt.failed"
    # Model tokens the attempt spent (payload: leviathan_core.usage); may follow its end.
    ATTEMPT_USAGE = "attempt.usage"
    SCHEDULER_CYCLE = "scheduler.cycle"
    BREAKER_OPENED = "breaker.opened"
    BREAKER_RESET = "breaker.reset"
    TARGET_PAUSED = "target.paused"
    TARGET_RESUMED = "target.resumed"
    BACKLOG_INVALID = "backlog.invalid"
    # A ticked checkbox of the dashboard issue (leviathan_core.dashboard), as the
    # control plane received it, and a request the scheduler refused (actor: github:<login>).
    DASHBOARD_REQUESTED = "dashboard.requested"
    DASHBOARD_REFUSED = "dashboard.refused"


TERMINAL_TYPES: Final = frozenset({EventType.ATTEMPT_SUCCEEDED, EventType.ATTEMPT_FAILED})

# Payload fields the projections read; anything else in a payload is kept as is.
REQUIRED_PAYLOAD: Final[dict[EventType, tuple[str, ...]]] = {
    EventType.ATTEMPT_FAILED: ("reason", "message"),
    EventType.PR_CREATED: ("pr_number", "pr_url", "branch"),
    EventType.ATTEMPT_USAGE: ("usage",),
    EventType.DASHBOARD_REQUESTED: ("action", "login", "issue_number"),
    EventType.DASHBOARD_REFUSED: ("action", "login", "reason", "message"),
}

# Event types that describe one attempt and therefore need attempt_id.
ATTEMPT_TYPES: Final = frozenset(
    {
        EventType.ATTEMPT_CREATED,
        EventType.ATTEMPT_DISPATCHED,
        EventType.ATTEMPT_STARTED,
        EventType.PR_CREATED,
        EventType.ATTEMPT_SUCCEEDED,
        EventType.ATTEMPT_FAILED,
        EventType.ATTEMPT_USAGE,
    }
)


class FailureReason(StrEnum):
    """Reason codes carried by ``attempt.failed``; docs/reference/reason-codes.md explains each."""

    SCOPE_VIOLATION = "scope_violation"
    NO_CHANGES = "no_changes"
    PR_CAP = "pr_cap"
    PUSH_REJECTED = "push_rejected"
    CLONE_FAILED = "clone_failed"
    MISSING_TOKEN = "missing_token"  # noqa: S105 - a reason code
    CONFIG_INVALID = "config_invalid"
    TASK_NOT_FOUND = "task_not_found"
    TASK_NOT_ELIGIBLE = "task_not_eligible"
    CHANGE_TOO_LARGE = "change_too_large"
    ENGINE_FAILED = "engine_failed"
    CHECKS_FAILED = "checks_failed"
    BUDGET_EXHAUSTED = "budget_exhausted"
    FORGE_ERROR = "forge_error"
    PR_MISMATCH = "pr_mismatch"
    FENCE_STALE = "fence_stale"
    CONTROL_PLANE_UNREACHABLE = "control_plane_unreachable"
    JOB_FAILED = "job_failed"
    JOB_MISSING = "job_missing"
    TIMEOUT = "timeout"
    DISPATCH_FAILED = "dispatch_failed"
    INTERNAL_ERROR = "internal_error"


_EDGE_DAYS = frozenset({date.min, date.max})
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def utcnow() -> datetime:
    return datetime.now(UTC)


def read_time(value: Any) -> datetime:
    """The one reading of a time on the wire: RFC 3339 text (or a datetime from Python).

    Numbers are refused: pydantic would read ``0`` or ``"1700000000"`` as seconds
    since 1970, a silently backdated event. The first and last representable
    days are refused whatever the offset, since in UTC they may not exist. An
    aware time comes back in UTC; a naive one stays naive for the caller to place.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and _RFC3339.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:  # a well-formed but impossible time: 2026-02-30, 23:59:60
            raise ValueError(f"is not a valid time ({exc})") from None
    else:
        raise ValueError("must be an RFC 3339 date-time string such as 2026-01-01T00:00:00Z")
    if moment.date() in _EDGE_DAYS:
        raise ValueError(
            "must lie between 0001-01-02 and 9999-12-30 (in UTC the edge days may not exist)"
        )
    return moment.astimezone(UTC) if moment.tzinfo else moment


# A time field of any body: the published schema says what read_time refuses.
WireTime = Annotated[
    datetime,
    BeforeValidator(read_time),
    Field(json_schema_extra={"pattern": r"^(?!0001-01-01|9999-12-31)"}),
]


class Event(BaseModel):
    """One immutable fact. ``event_id`` is the idempotency key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(pattern=ID_PATTERN)
    type: EventType
    target_id: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    attempt_id: str | None = Field(default=None, pattern=ID_PATTERN)
    task_id: str | None = Field(default=None, max_length=200)
    occurred_at: WireTime
    actor: str = Field(min_length=1, max_length=200)
    fence: int | None = Field(default=None, ge=0, le=2**63 - 1)
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a timezone (e.g. 2026-01-01T00:00:00Z)")
        return value

    @model_validator(mode="after")
    def _contract(self) -> Event:
        if self.type in ATTEMPT_TYPES and not self.attempt_id:
            raise ValueError(f"{self.type.value} needs attempt_id")
        missing = [k for k in REQUIRED_PAYLOAD.get(self.type, ()) if k not in self.payload]
        if missing:
            raise ValueError(f"{self.type.value} payload is missing {', '.join(missing)}")
        return self

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    def wire(self) -> dict[str, Any]:
        """The JSON form posted over HTTP and stored in spools and messages."""
        return self.model_dump(mode="json")


def attempt_event_id(attempt_id: str, event_type: EventType | str) -> str:
    """Deterministic id for an attempt's event, so a resend is a duplicate."""
    return f"{attempt_id}:{EventType(event_type).value}"


def new_event(
    event_type: EventType,
    *,
    target_id: str,
    actor: str,
    attempt_id: str | None = None,
    task_id: str | None = None,
    fence: int | None = None,
    payload: dict[str, Any] | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Build an event; attempt events get a deterministic id unless one is given."""
    if event_id is None:
        if attempt_id is not None and event_type in ATTEMPT_TYPES:
            event_id = attempt_event_id(attempt_id, event_type)
        else:
            event_id = f"{event_type.value}:{uuid.uuid4().hex}"
    return Event(
        event_id=event_id,
        type=event_type,
        target_id=target_id,
        attempt_id=attempt_id,
        task_id=task_id,
        occurred_at=occurred_at or utcnow(),
        actor=actor,
        fence=fence,
        payload=payload or {},
    )
