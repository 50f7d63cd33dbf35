"""Tables of the event log and its projections (SQLAlchemy Core).

The event table is append-only; every other table is a projection rebuilt
from it in the same transaction, so reads never have to scan the log.
The migrations (``leviathan_control_plane/migrations/versions``) create
exactly these tables; a unit test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every database and hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# A big integer primary key that SQLite still treats as its rowid alias.
AutoId = BigInteger().with_variant(Integer(), "sqlite")
ID_LEN = 200

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("event_id", String(ID_LEN), nullable=False),
    Column("target_id", String(63), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("type", String(40), nullable=False),
    Column("attempt_id", String(ID_LEN)),
    Column("task_id", String(ID_LEN)),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("actor", String(ID_LEN), nullable=False),
    Column("fence", BigInteger),
    Column("body", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("event_id", name="uq_events_event_id"),
    UniqueConstraint("target_id", "sequence", name="uq_events_target_sequence"),
    Index("ix_events_attempt", "attempt_id", "id"),
    Index("ix_events_type", "type", "id"),
    Index("ix_events_target_id", "target_id", "id"),
    Index("ix_events_occurred", "occurred_at", "id"),
)

targets = Table(
    "targets",
    metadata,
    Column("target_id", String(63), primary_key=True),
    Column("last_sequence", BigInteger, nullable=False, default=0),
    Column("last_hash", String(64), nullable=False),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("open_prs", Integer, nullable=False, default=0),
    Column("paused", Boolean, nullable=False, default=False),
    Column("pause_reason", Text),
    Column("stats", Text, nullable=False, default="{}"),
    Column("updated_at", UTCDateTime),
)

attempts = Table(
    "attempts",
    metadata,
    Column("attempt_id", String(ID_LEN), primary_key=True),
    Column("target_id", String(63), nullable=False),
    Column("task_id", String(ID_LEN)),
    Column("attempt_number", Integer),
    Column("status", String(16), nullable=False),
    Column("reason", String(ID_LEN)),
    Column("message", Text),
    Column("fence", BigInteger),
    Column("branch", String(255)),
    Column("commit", String(64)),
    Column("pr_number", Integer),
    Column("pr_url", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("first_sequence", BigInteger, nullable=False),
    Index("ix_attempts_target_created", "target_id", "created_at", "attempt_id"),
    Index("ix_attempts_created", "created_at", "attempt_id"),
    Index("ix_attempts_status_updated", "status", "updated_at", "attempt_id"),
    Index("ix_attempts_target_status_updated", "target_id", "status", "updated_at", "attempt_id"),
)

task_attempts = Table(
    "task_attempts",
    metadata,
    Column("target_id", String(63), primary_key=True),
    Column("task_id", String(ID_LEN), primary_key=True),
    Column("attempts", Integer, nullable=False),
)

pull_requests = Table(
    "pull_requests",
    metadata,
    Column("target_id", String(63), primary_key=True),
    Column("pr_number", Integer, primary_key=True, autoincrement=False),
    Column("pr_url", Text, nullable=False),
    Column("branch", String(255), nullable=False),
    Column("attempt_id", String(ID_LEN)),
    Column("task_id", String(ID_LEN)),
    Column("is_open", Boolean, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Index("ix_pull_requests_open", "target_id", "is_open"),
)

# Model tokens per target, UTC day (of the reports' occurred_at) and model: the
# sums of attempt.usage reports; total_tokens counts each report at least at its
# prompt + completion (leviathan_core.usage.TokenUsage.spent).
token_usage = Table(
    "token_usage",
    metadata,
    Column("target_id", String(63), primary_key=True),
    Column("usage_day", Date, primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("reports", Integer, nullable=False),
)
