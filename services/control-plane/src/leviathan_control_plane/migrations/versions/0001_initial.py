"""Event log, targets, attempts, task counts and pull requests.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leviathan_control_plane.log.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("target_id", sa.String(63), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("attempt_id", sa.String(200)),
        sa.Column("task_id", sa.String(200)),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("fence", sa.BigInteger),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sa.UniqueConstraint("target_id", "sequence", name="uq_events_target_sequence"),
    )
    op.create_index("ix_events_attempt", "events", ["attempt_id", "id"])
    op.create_index("ix_events_type", "events", ["type", "id"])
    op.create_index("ix_events_target_id", "events", ["target_id", "id"])
    op.create_index("ix_events_occurred", "events", ["occurred_at", "id"])

    op.create_table(
        "targets",
        sa.Column("target_id", sa.String(63), primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("open_prs", sa.Integer, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("pause_reason", sa.Text),
        sa.Column("stats", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime),
    )

    op.create_table(
        "attempts",
        sa.Column("attempt_id", sa.String(200), primary_key=True),
        sa.Column("target_id", sa.String(63), nullable=False),
        sa.Column("task_id", sa.String(200)),
        sa.Column("attempt_number", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("message", sa.Text),
        sa.Column("fence", sa.BigInteger),
        sa.Column("branch", sa.String(255)),
        sa.Column("commit", sa.String(64)),
        sa.Column("pr_number", sa.Integer),
        sa.Column("pr_url", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("first_sequence", sa.BigInteger, nullable=False),
    )
    for name, columns in (
        ("ix_attempts_target_created", ["target_id", "created_at", "attempt_id"]),
        ("ix_attempts_created", ["created_at", "attempt_id"]),
        ("ix_attempts_status_updated", ["status", "updated_at", "attempt_id"]),
        ("ix_attempts_target_status_updated", ["target_id", "status", "updated_at", "attempt_id"]),
    ):
        op.create_index(name, "attempts", columns)

    op.create_table(
        "task_attempts",
        sa.Column("target_id", sa.String(63), primary_key=True),
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
    )

    op.create_table(
        "pull_requests",
        sa.Column("target_id", sa.String(63), primary_key=True),
        sa.Column("pr_number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("pr_url", sa.Text, nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("attempt_id", sa.String(200)),
        sa.Column("task_id", sa.String(200)),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime),
    )
    op.create_index("ix_pull_requests_open", "pull_requests", ["target_id", "is_open"])


def downgrade() -> None:
    for table in ("pull_requests", "task_attempts", "attempts", "targets", "events"):
        op.drop_table(table)
