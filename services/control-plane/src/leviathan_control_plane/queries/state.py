"""The facts the scheduler decides on for one target (GET /v1/targets/{id}/state).

The breaker is reported as the count of consecutive failures only: whether it
is open is the scheduler's decision, made with the target's current
``circuit_breaker_failures`` (leviathan_core.breaker.is_open), not a copy of
a threshold this process read at start. Likewise the tokens: the day's sum,
judged against ``daily_token_budget`` by leviathan_core.budgets.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, func, select

from leviathan_control_plane.log import schema
from leviathan_control_plane.queries.attempts import attempt_summary
from leviathan_control_plane.queries.usage import tokens_on
from leviathan_core.state import RUNNING_STATUSES, OpenPullRequest, TargetState


def state(engine: Engine, target_id: str, day: date) -> TargetState:
    """The target's projection rows and its tokens on ``day`` (UTC); empty when unknown."""
    t, a, k, p = schema.targets, schema.attempts, schema.task_attempts, schema.pull_requests
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.target_id == target_id)).first()
        if row is None:
            return TargetState(target_id=target_id, usage_day=day)
        tokens = tokens_on(conn, target_id, day)
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
        usage_day=day,
        tokens_today=tokens,
    )
