"""The facts the scheduler decides on, for one target or many in one go.

``GET /v1/targets/{id}/state`` answers one target; ``GET /v1/targets/states``
answers up to ``MAX_BATCH`` in one request with the same six queries (each
an ``IN`` over the targets), which is what lets one scheduler process serve
thousands of targets without a round trip per target and per fact.

The breaker is reported as the count of consecutive failures only: whether it
is open is the scheduler's decision, made with the target's current
``circuit_breaker_failures`` (leviathan_core.breaker.is_open), not a copy of
a threshold this process read at start. Likewise the tokens: the day's sum,
judged against ``daily_token_budget`` by leviathan_core.budgets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select

from leviathan_control_plane.log import schema
from leviathan_control_plane.queries.attempts import attempt_summary
from leviathan_core.state import RUNNING_STATUSES, OpenPullRequest, TargetState

MAX_BATCH = 100


def state(engine: Engine, target_id: str, day: date) -> TargetState:
    """One target's projection rows and its tokens on ``day`` (UTC); empty when unknown."""
    return states(engine, [target_id], day)[0]


def states(engine: Engine, target_ids: Sequence[str], day: date) -> list[TargetState]:
    """The state of each of ``target_ids``, in their order (a repeated id repeats)."""
    ids = sorted(set(target_ids))
    t, a, k, p = schema.targets, schema.attempts, schema.task_attempts, schema.pull_requests
    u = schema.token_usage
    with engine.connect() as conn:
        rows = {r.target_id: r for r in conn.execute(select(t).where(t.c.target_id.in_(ids)))}
        known = sorted(rows)
        tokens: dict[str, int] = dict.fromkeys(known, 0)
        tasks: dict[str, dict[str, int]] = defaultdict(dict)
        fences: dict[str, int] = {}
        running: dict[str, list[Any]] = defaultdict(list)
        pulls: dict[str, list[Any]] = defaultdict(list)
        if known:
            total = func.coalesce(func.sum(u.c.total_tokens), 0)
            for target, value in conn.execute(
                select(u.c.target_id, total)
                .where(u.c.target_id.in_(known), u.c.usage_day == day)
                .group_by(u.c.target_id)
            ):
                tokens[target] = int(value)
            for r in conn.execute(
                select(k.c.target_id, k.c.task_id, k.c.attempts).where(k.c.target_id.in_(known))
            ):
                tasks[r.target_id][r.task_id] = r.attempts
            for target, fence in conn.execute(
                select(a.c.target_id, func.max(a.c.fence))
                .where(a.c.target_id.in_(known))
                .group_by(a.c.target_id)
            ):
                fences[target] = fence or 0
            # No ORDER BY in SQL: sorting these few rows here keeps both queries on the
            # (target, status) and (target, is_open) indexes, whatever the history size.
            live = a.c.status.in_(sorted(RUNNING_STATUSES))
            for m in conn.execute(select(a).where(a.c.target_id.in_(known), live)).mappings():
                running[m["target_id"]].append(m)
            opened = p.c.is_open == True  # noqa: E712
            for m in conn.execute(select(p).where(p.c.target_id.in_(known), opened)).mappings():
                pulls[m["target_id"]].append(m)
    built: dict[str, TargetState] = {}
    for target in ids:
        row = rows.get(target)
        if row is None:
            built[target] = TargetState(target_id=target, usage_day=day)
            continue
        built[target] = TargetState(
            target_id=target,
            attempts_per_task=tasks.get(target, {}),
            running_attempts=[
                attempt_summary(m)
                for m in sorted(running[target], key=lambda m: (m["created_at"], m["attempt_id"]))
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
                for m in sorted(pulls[target], key=lambda m: m["pr_number"])
            ],
            paused=row.paused,
            pause_reason=row.pause_reason,
            last_sequence=row.last_sequence,
            max_fence=fences.get(target, 0),
            usage_day=day,
            tokens_today=tokens.get(target, 0),
        )
    return [built[target] for target in target_ids]
