"""Read models shared by the control plane (which serves them) and its clients."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

AttemptStatus = Literal["created", "dispatched", "running", "succeeded", "failed"]
RUNNING_STATUSES: frozenset[str] = frozenset({"created", "dispatched", "running"})


class AttemptSummary(BaseModel):
    attempt_id: str
    target_id: str
    task_id: str | None = None
    attempt_number: int | None = None
    status: AttemptStatus
    reason: str | None = None
    message: str | None = None
    fence: int | None = None
    branch: str | None = None
    commit: str | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class OpenPullRequest(BaseModel):
    pr_number: int
    pr_url: str
    branch: str
    attempt_id: str | None = None
    task_id: str | None = None


class TargetState(BaseModel):
    """Exactly the facts the scheduler's ``decide()`` takes from the control plane."""

    target_id: str
    attempts_per_task: dict[str, int] = Field(default_factory=dict)
    running_attempts: list[AttemptSummary] = Field(default_factory=list)
    # Whether the breaker is open is decided by leviathan_core.breaker, never here.
    consecutive_failures: int = 0
    open_prs: list[OpenPullRequest] = Field(default_factory=list)
    paused: bool = False
    pause_reason: str | None = None
    last_sequence: int = 0
    # The highest fence of any attempt of the target: new fences start above it,
    # even when Redis lost its counter (slots.try_reserve's fence_floor).
    max_fence: int = 0
    # Model tokens spent on ``usage_day`` (UTC): the day asked for, else the
    # control plane's today. Whether that exhausts a budget is leviathan_core.budgets'.
    usage_day: date | None = None
    tokens_today: int = 0
