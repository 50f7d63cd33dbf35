"""The rows one batch works on, as plain dataclasses (no I/O).

The store loads what a batch touches into a ``Working`` set, the projection
changes it in memory, and the store writes the changed rows back in the same
transaction; keeping these shapes apart lets both sides share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from leviathan_core.events import Event


class Rejection(Exception):
    """An event the log refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class TargetView:
    """A target's counters and the tip of its chain (the targets row)."""

    target_id: str
    last_sequence: int
    last_hash: str
    consecutive_failures: int = 0
    open_prs: int = 0
    paused: bool = False
    pause_reason: str | None = None
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    updated_at: datetime | None = None

    def bump(self, kind: str, key: str, delta: int = 1) -> None:
        bucket = self.stats.setdefault(kind, {})
        bucket[key] = bucket.get(key, 0) + delta


@dataclass
class AttemptView:
    """One attempt as the attempts projection holds it."""

    attempt_id: str
    target_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    first_sequence: int
    task_id: str | None = None
    attempt_number: int | None = None
    reason: str | None = None
    message: str | None = None
    fence: int | None = None
    branch: str | None = None
    commit: str | None = None
    pr_number: int | None = None
    pr_url: str | None = None


@dataclass
class PullView:
    """One pull request opened by an attempt (the pull_requests row)."""

    target_id: str
    pr_number: int
    pr_url: str
    branch: str
    opened_at: datetime
    is_open: bool = True
    attempt_id: str | None = None
    task_id: str | None = None
    closed_at: datetime | None = None


@dataclass
class UsageView:
    """One target's tokens of one model on one UTC day (the token_usage row)."""

    target_id: str
    usage_day: date
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reports: int = 0


UsageKey = tuple[str, date, str]  # target, UTC day, model


@dataclass(frozen=True)
class Stored:
    """What the log already holds for an event id."""

    body: str
    sequence: int
    hash: str


@dataclass(frozen=True)
class Appended:
    """The outcome of one event: newly created, or a duplicate of the stored one."""

    event_id: str
    status: Literal["created", "duplicate"]
    sequence: int
    hash: str


@dataclass
class Working:
    """The rows one batch may read or change, keyed as in the database."""

    targets: dict[str, TargetView]
    attempts: dict[str, AttemptView] = field(default_factory=dict)
    pulls: dict[tuple[str, int], PullView] = field(default_factory=dict)
    tasks: dict[tuple[str, str], int] = field(default_factory=dict)
    usage: dict[UsageKey, UsageView] = field(default_factory=dict)
    known: dict[str, Stored] = field(default_factory=dict)
    new_events: list[tuple[Event, str, int, str, str]] = field(default_factory=list)
    dirty_attempts: set[str] = field(default_factory=set)
    dirty_pulls: set[tuple[str, int]] = field(default_factory=set)
    dirty_tasks: set[tuple[str, str]] = field(default_factory=set)
    dirty_usage: set[UsageKey] = field(default_factory=set)
    loaded: set[str] = field(default_factory=set)  # attempt ids that exist in the database
