"""Read side: every answer comes from a projection or an indexed range of the log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, desc, func, select

from leviathan_control_plane import schema
from leviathan_control_plane.canonical import GENESIS_HASH, chain_hash
from leviathan_control_plane.jsonbody import MAX_STORED_DEPTH, read_json
from leviathan_control_plane.models import (
    GraphSummary,
    RecentEvent,
    TargetInfo,
    VerifyReport,
)
from leviathan_control_plane.stored import stored_event
from leviathan_shared.events import Event
from leviathan_shared.state import RUNNING_STATUSES, AttemptSummary, OpenPullRequest, TargetState

VERIFY_CHUNK = 2000


class Reader:
    """Queries behind the GET endpoints.

    The breaker is reported as the count of consecutive failures only: whether
    it is open is the scheduler's decision, made with the target's current
    ``circuit_breaker_failures`` (guardrails.breaker_tripped), not a copy of the
    threshold this process read at start.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _info(self, row: Any) -> TargetInfo:
        return TargetInfo(
            target_id=row.target_id,
            last_sequence=row.last_sequence,
            consecutive_failures=row.consecutive_failures,
            open_prs=row.open_prs,
            paused=row.paused,
            pause_reason=row.pause_reason,
            updated_at=row.updated_at,
        )

    def targets(self) -> tuple[list[TargetInfo], list[dict[str, Any]]]:
        with self.engine.connect() as conn:
            t = schema.targets
            rows = conn.execute(select(t).order_by(t.c.target_id)).all()
        return [self._info(r) for r in rows], [json.loads(r.stats) for r in rows]

    def summary(self) -> GraphSummary:
        infos, stats = self.targets()
        totals: dict[str, dict[str, int]] = {}
        for one in stats:
            for kind, bucket in one.items():
                into = totals.setdefault(kind, {})
                for key, value in bucket.items():
                    into[key] = into.get(key, 0) + value
        nodes = {"Target": len(infos), **dict(sorted(totals.get("nodes", {}).items()))}
        e = schema.events
        with self.engine.connect() as conn:
            recent = conn.execute(
                select(
                    e.c.event_id,
                    e.c.occurred_at,
                    e.c.type,
                    e.c.actor,
                    e.c.target_id,
                    e.c.attempt_id,
                )
                .order_by(desc(e.c.id))
                .limit(20)
            ).all()
        return GraphSummary(
            nodes_by_type=nodes,
            edges_by_type=dict(sorted(totals.get("edges", {}).items())),
            recent_events=[
                RecentEvent(
                    event_id=r.event_id,
                    timestamp=r.occurred_at,
                    event_type=r.type,
                    actor_id=r.actor,
                    target=r.target_id,
                    attempt_id=r.attempt_id,
                )
                for r in recent
            ],
            events_total=nodes.get("Event", 0),
            events_by_type=dict(sorted(totals.get("events_by_type", {}).items())),
            attempts_by_status={
                k: v for k, v in sorted(totals.get("attempts_by_status", {}).items()) if v
            },
            open_prs={i.target_id: i.open_prs for i in infos},
            targets=infos,
        )

    def state(self, target_id: str) -> TargetState:
        t, a, k, p = schema.targets, schema.attempts, schema.task_attempts, schema.pull_requests
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.target_id == target_id)).first()
            if row is None:
                return TargetState(target_id=target_id)
            tasks = conn.execute(
                select(k.c.task_id, k.c.attempts).where(k.c.target_id == target_id)
            ).all()
            max_fence = conn.execute(
                select(func.max(a.c.fence)).where(a.c.target_id == target_id)
            ).scalar()
            # No ORDER BY in SQL: sorting these few rows here keeps both queries on the
            # (target, status) and (target, is_open) indexes, whatever the history size.
            running = (
                conn.execute(
                    select(a).where(
                        a.c.target_id == target_id, a.c.status.in_(sorted(RUNNING_STATUSES))
                    )
                )
                .mappings()
                .all()
            )
            pulls = (
                conn.execute(
                    select(p).where(p.c.target_id == target_id, p.c.is_open == True)  # noqa: E712
                )
                .mappings()
                .all()
            )
        return TargetState(
            target_id=target_id,
            attempts_per_task={r.task_id: r.attempts for r in tasks},
            running_attempts=[
                attempt_summary(m)
                for m in sorted(running, key=lambda m: (m["created_at"], m["attempt_id"]))
            ],
            consecutive_failures=row.consecutive_failures,
            open_prs=[
                OpenPullRequest(
                    pr_number=m["pr_number"],
                    pr_url=m["pr_url"],
                    branch=m["branch"],
                    attempt_id=m["attempt_id"],
                    task_id=m["task_id"],
                )
                for m in sorted(pulls, key=lambda m: m["pr_number"])
            ],
            paused=row.paused,
            pause_reason=row.pause_reason,
            last_sequence=row.last_sequence,
            max_fence=max_fence or 0,
        )

    def attempts(self, target_id: str | None, limit: int, *, failed: bool) -> list[AttemptSummary]:
        a = schema.attempts
        query = select(a)
        if target_id is not None:
            query = query.where(a.c.target_id == target_id)
        if failed:
            query = query.where(a.c.status == "failed").order_by(desc(a.c.updated_at))
        else:
            query = query.order_by(desc(a.c.created_at))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(desc(a.c.attempt_id)).limit(limit)).mappings()
            return [attempt_summary(m) for m in rows]

    def attempt(self, attempt_id: str) -> tuple[AttemptSummary, list[dict[str, Any]]] | None:
        a, e = schema.attempts, schema.events
        with self.engine.connect() as conn:
            row = conn.execute(select(a).where(a.c.attempt_id == attempt_id)).mappings().first()
            if row is None:
                return None
            events = conn.execute(
                select(e).where(e.c.attempt_id == attempt_id).order_by(e.c.id)
            ).all()
        return attempt_summary(row), [stored_event(r) for r in events]

    def stored(self, event_id: str) -> Event | None:
        """The stored event, or None when there is none or its body no longer reads as one."""
        e = schema.events
        with self.engine.connect() as conn:
            body = conn.execute(select(e.c.body).where(e.c.event_id == event_id)).scalar()
        if body is None:
            return None
        try:
            return Event.model_validate(read_json(body, max_depth=MAX_STORED_DEPTH))
        except ValueError:  # NotJson, JsonRefused and pydantic's ValidationError
            return None

    def events(
        self,
        *,
        target: str | None,
        attempt: str | None,
        type_: str | None,
        since: datetime | None,
        after: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int | None]:
        e = schema.events
        query = select(e).where(e.c.id > after)
        for column, value in (
            (e.c.target_id, target),
            (e.c.attempt_id, attempt),
            (e.c.type, type_),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(e.c.occurred_at >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(e.c.id).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [stored_event(r) for r in rows], (rows[-1].id if more and rows else None)

    def verify(self, target_id: str) -> VerifyReport:
        """Recompute the chain of one target from its first event, in bounded chunks."""
        e = schema.events
        prev, expected, checked = GENESIS_HASH, 1, 0
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(
                    select(e.c.sequence, e.c.body, e.c.prev_hash, e.c.hash)
                    .where(e.c.target_id == target_id, e.c.sequence >= expected)
                    .order_by(e.c.sequence)
                    .limit(VERIFY_CHUNK)
                ).all()
                for row in rows:
                    problem = _link_problem(row, expected, prev)
                    if problem:
                        return VerifyReport(
                            target_id=target_id,
                            ok=False,
                            events_checked=checked,
                            last_sequence=expected - 1,
                            first_bad_sequence=row.sequence,
                            message=problem,
                        )
                    prev, expected, checked = row.hash, expected + 1, checked + 1
                if len(rows) < VERIFY_CHUNK:
                    break
            last = conn.execute(
                select(func.coalesce(func.max(e.c.sequence), 0)).where(e.c.target_id == target_id)
            ).scalar_one()
        return VerifyReport(
            target_id=target_id,
            ok=True,
            events_checked=checked,
            last_sequence=int(last),
            message=f"{checked} events, chain intact",
        )


def _link_problem(row: Any, expected: int, prev: str) -> str | None:
    if row.sequence != expected:
        return f"sequence {expected} is missing (found {row.sequence})"
    if row.prev_hash != prev:
        return f"event {row.sequence} does not point at the hash of event {expected - 1}"
    if chain_hash(prev, row.sequence, row.body) != row.hash:
        return f"event {row.sequence} does not match its stored hash"
    return None


def attempt_summary(m: Mapping[Any, Any]) -> AttemptSummary:
    fields = AttemptSummary.model_fields
    return AttemptSummary.model_validate({k: v for k, v in m.items() if k in fields})
