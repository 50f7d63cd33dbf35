"""Model tokens per target, UTC day and model (attempt.usage reports).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No backfill: attempt.usage is new, so no stored event has usage to count.
    op.create_table(
        "token_usage",
        sa.Column("target_id", sa.String(63), primary_key=True),
        sa.Column("usage_day", sa.Date, primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("total_tokens", sa.BigInteger, nullable=False),
        sa.Column("reports", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("token_usage")
