"""Projection rows between the database and the in-memory views the projection changes.

One place for the mapping, so the store's load and write paths agree on it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from leviathan_control_plane.log import schema
from leviathan_control_plane.log.chain import GENESIS_HASH
from leviathan_control_plane.projections.views import (
    AttemptView,
    PullView,
    TargetView,
    UsageView,
)
from leviathan_core.events import Event

ATTEMPT_FIELDS = [c.name for c in schema.attempts.columns]
PULL_FIELDS = [c.name for c in schema.pull_requests.columns]
USAGE_FIELDS = [c.name for c in schema.token_usage.columns]


def new_target_row(target_id: str) -> dict[str, Any]:
    """The row of a target's first event: an empty chain at the genesis hash."""
    return {
        "target_id": target_id,
        "last_sequence": 0,
        "last_hash": GENESIS_HASH,
        "consecutive_failures": 0,
        "open_prs": 0,
        "paused": False,
        "pause_reason": None,
        "stats": "{}",
        "updated_at": None,
    }


def target_view(row: RowMapping) -> TargetView:
    """A targets row as the view the projection changes (``stats`` is JSON text)."""
    data = dict(row)
    data["stats"] = json.loads(data["stats"] or "{}")
    return TargetView(**data)


def target_row(view: TargetView) -> dict[str, Any]:
    """The view back as a targets row."""
    return {
        "target_id": view.target_id,
        "last_sequence": view.last_sequence,
        "last_hash": view.last_hash,
        "consecutive_failures": view.consecutive_failures,
        "open_prs": view.open_prs,
        "paused": view.paused,
        "pause_reason": view.pause_reason,
        "stats": json.dumps(view.stats, sort_keys=True),
        "updated_at": view.updated_at,
    }


def attempt_row(view: AttemptView) -> dict[str, Any]:
    """An attempt view as an attempts row."""
    return {name: getattr(view, name) for name in ATTEMPT_FIELDS}


def pull_row(view: PullView) -> dict[str, Any]:
    """A pull request view as a pull_requests row."""
    return {name: getattr(view, name) for name in PULL_FIELDS}


def usage_row(view: UsageView) -> dict[str, Any]:
    """A usage view as a token_usage row."""
    return {name: getattr(view, name) for name in USAGE_FIELDS}


def event_row(item: tuple[Event, str, int, str, str], now: datetime) -> dict[str, Any]:
    """A new event (event, body, sequence, prev hash, hash) as an events row."""
    event, body, sequence, prev_hash, digest = item
    return {
        "event_id": event.event_id,
        "target_id": event.target_id,
        "sequence": sequence,
        "type": event.type.value,
        "attempt_id": event.attempt_id,
        "task_id": event.task_id,
        "occurred_at": event.occurred_at,
        "received_at": now,
        "actor": event.actor,
        "fence": event.fence,
        "body": body,
        "prev_hash": prev_hash,
        "hash": digest,
    }
