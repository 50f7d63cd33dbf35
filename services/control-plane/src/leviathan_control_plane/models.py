"""Request and response bodies of the HTTP API (declared in the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leviathan_core.events import ID_PATTERN, Event, WireTime
from leviathan_core.state import AttemptSummary, TargetState

TARGET_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every 4xx answer: a sentence for people and, for 422, the failing fields."""

    detail: str
    errors: list[ErrorItem] = Field(default_factory=list)
    index: int | None = None
    event_id: str | None = None


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1)


class UnreadableBody(BaseModel):
    """Why a stored body is not served as JSON, and the body itself as text."""

    reason: str
    sha256: str
    body: str


class StoredEvent(BaseModel):
    """An event as the log holds it: the envelope plus its place in the chain.

    A row an older intake let in (nested too deeply, NaN) or that was edited by
    hand is still listed: ``event`` then carries the envelope from the indexed
    columns with an empty payload, and ``unreadable`` says why and holds the text.
    """

    event: Event
    sequence: int
    hash: str
    prev_hash: str
    received_at: datetime
    unreadable: UnreadableBody | None = None


class EventResult(BaseModel):
    index: int
    event_id: str
    status: Literal["created", "duplicate"]
    sequence: int
    hash: str


class SingleEventResponse(EventResult):
    event: Event


class BatchResponse(BaseModel):
    results: list[EventResult]
    created: int
    duplicates: int


class BundleEvent(BaseModel):
    """One event in the seed-era bundle form."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(pattern=ID_PATTERN)
    event_type: str = Field(min_length=1, max_length=64)
    timestamp: WireTime
    actor_id: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)


class Bundle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(pattern=TARGET_PATTERN)
    bundle_id: str = Field(min_length=1, max_length=200)
    events: list[BundleEvent] = Field(min_length=1)


class BundleResult(BaseModel):
    index: int
    event_id: str
    status: Literal["created", "duplicate", "rejected"]
    sequence: int | None = None
    reason: str | None = None


class BundleResponse(BaseModel):
    bundle_id: str
    target: str
    results: list[BundleResult]
    created: int
    duplicates: int
    rejected: int


class EventPage(BaseModel):
    events: list[StoredEvent]
    next_cursor: str | None = None


class VerifyReport(BaseModel):
    target_id: str
    ok: bool
    events_checked: int
    last_sequence: int
    first_bad_sequence: int | None = None
    message: str


class AttemptList(BaseModel):
    attempts: list[AttemptSummary]


class AttemptTimeline(BaseModel):
    attempt: AttemptSummary
    events: list[StoredEvent]


class TargetInfo(BaseModel):
    target_id: str
    last_sequence: int
    consecutive_failures: int
    open_prs: int
    paused: bool
    pause_reason: str | None = None
    updated_at: datetime | None = None


class TargetList(BaseModel):
    targets: list[TargetInfo]


class TargetStates(BaseModel):
    """``GET /v1/targets/states``: one state per ``target`` asked, in that order."""

    states: list[TargetState]


class RecentEvent(BaseModel):
    event_id: str
    timestamp: datetime
    event_type: str
    actor_id: str
    target: str
    attempt_id: str | None = None


class GraphSummary(BaseModel):
    """The seed's keys (nodes/edges by type, recent events) plus Leviathan's facts."""

    nodes_by_type: dict[str, int]
    edges_by_type: dict[str, int]
    recent_events: list[RecentEvent]
    events_total: int
    events_by_type: dict[str, int]
    attempts_by_status: dict[str, int]
    open_prs: dict[str, int]
    targets: list[TargetInfo]


class ModelUsage(BaseModel):
    """One model's tokens on one day; ``total_tokens`` counts each report at least
    at its prompt + completion."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reports: int


class DayUsage(BaseModel):
    """One UTC day of a target: every model together, then each model."""

    day: date
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    models: list[ModelUsage]


class TargetUsage(BaseModel):
    """GET /v1/targets/{id}/usage: each day from ``since`` to ``until``, oldest first."""

    target_id: str
    since: date
    until: date
    days: list[DayUsage]


class BreakerReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)
    actor: str = Field(min_length=1, max_length=200)
    event_id: str | None = Field(default=None, pattern=ID_PATTERN)
    occurred_at: WireTime | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    database: str
