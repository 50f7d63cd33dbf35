"""Targets and the graph summary, from the targets projection and the newest events."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, desc, select

from leviathan_control_plane.log import schema
from leviathan_control_plane.models import GraphSummary, RecentEvent, TargetInfo

RECENT_EVENTS = 20


def _info(row: Any) -> TargetInfo:
    return TargetInfo(
        target_id=row.target_id,
        last_sequence=row.last_sequence,
        consecutive_failures=row.consecutive_failures,
        open_prs=row.open_prs,
        paused=row.paused,
        pause_reason=row.pause_reason,
        updated_at=row.updated_at,
    )


def targets(engine: Engine) -> tuple[list[TargetInfo], list[dict[str, Any]]]:
    """Every target with events, and each one's counters (the ``stats`` column)."""
    with engine.connect() as conn:
        t = schema.targets
        rows = conn.execute(select(t).order_by(t.c.target_id)).all()
    return [_info(r) for r in rows], [json.loads(r.stats) for r in rows]


def _totals(stats: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The per-target counters added up across targets."""
    totals: dict[str, dict[str, int]] = {}
    for one in stats:
        for kind, bucket in one.items():
            into = totals.setdefault(kind, {})
            for key, value in bucket.items():
                into[key] = into.get(key, 0) + value
    return totals


def _recent(engine: Engine) -> list[RecentEvent]:
    e = schema.events
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                e.c.event_id, e.c.occurred_at, e.c.type, e.c.actor, e.c.target_id, e.c.attempt_id
            )
            .order_by(desc(e.c.id))
            .limit(RECENT_EVENTS)
        ).all()
    return [
        RecentEvent(
            event_id=r.event_id,
            timestamp=r.occurred_at,
            event_type=r.type,
            actor_id=r.actor,
            target=r.target_id,
            attempt_id=r.attempt_id,
        )
        for r in rows
    ]


def summary(engine: Engine) -> GraphSummary:
    """The seed's graph counts plus Leviathan's facts, without scanning the log."""
    infos, stats = targets(engine)
    totals = _totals(stats)
    nodes = {"Target": len(infos), **dict(sorted(totals.get("nodes", {}).items()))}
    return GraphSummary(
        nodes_by_type=nodes,
        edges_by_type=dict(sorted(totals.get("edges", {}).items())),
        recent_events=_recent(engine),
        events_total=nodes.get("Event", 0),
        events_by_type=dict(sorted(totals.get("events_by_type", {}).items())),
        attempts_by_status={
            k: v for k, v in sorted(totals.get("attempts_by_status", {}).items()) if v
        },
        open_prs={i.target_id: i.open_prs for i in infos},
        targets=infos,
    )
