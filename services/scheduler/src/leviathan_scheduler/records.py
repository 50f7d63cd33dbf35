"""The events a cycle records, built as pure functions of what it saw and decided.

Ids are chosen so that a repeat is a duplicate: ``<attempt>:attempt.created``
(the worker re-posts this exact envelope), one ``backlog.invalid`` per blob,
one ``breaker.opened`` per breaker episode.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime
from typing import Any

from leviathan_core import breaker
from leviathan_core.backlog import BacklogError, TaskEntry
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import branch_name
from leviathan_core.events import Event, EventType, FailureReason, new_event
from leviathan_core.guardrails import Decision
from leviathan_scheduler.console import (
    OPEN_PR_SOURCES,
    RUNNING_SOURCES,
    decision_json,
    known_count,
)
from leviathan_scheduler.facts import Gathered

ACTOR = "leviathan-scheduler"
TASKS_IN_RECORD = 50


def attempt_created(
    config: AutonomyConfig,
    task: TaskEntry,
    attempt_number: int,
    attempt_id: str,
    fence: int,
    now: datetime,
) -> Event:
    return new_event(
        EventType.ATTEMPT_CREATED,
        target_id=config.target_id,
        actor=ACTOR,
        attempt_id=attempt_id,
        task_id=task.id,
        fence=fence,
        occurred_at=now,
        payload={
            "attempt_number": attempt_number,
            "max_attempts": config.max_attempts_per_task,
            "title": task.title,
            "scope": task.scope,
            "allowed_paths": list(task.allowed_paths),
            "branch": branch_name(attempt_id, config.change_engine),
        },
    )


def dispatch_failed(created: Event, error: str, now: datetime) -> Event:
    """The attempt ends here: its dispatch message never reached the broker."""
    return new_event(
        EventType.ATTEMPT_FAILED,
        target_id=created.target_id,
        actor=ACTOR,
        attempt_id=created.attempt_id,
        task_id=created.task_id,
        fence=created.fence,
        occurred_at=now,
        payload={
            "reason": FailureReason.DISPATCH_FAILED.value,
            "message": f"the dispatch message could not be sent: {error}",
        },
    )


def alarms(
    config: AutonomyConfig, gathered: Gathered, decision: Decision, now: datetime
) -> list[Event]:
    """``breaker.opened`` when the count reached the threshold; ``backlog.invalid``.

    Both are built on every tick their cause holds; their ids name the cause,
    so the cycle posts each one once (see ``cycle._post_once``).
    """
    target = config.target_id
    events = []
    if decision.breaker_tripped and gathered.state is not None:
        # No attempt starts while the breaker is open, so the attempt total names the episode.
        total = sum(gathered.state.attempts_per_task.values())
        view = breaker.BreakerView.of(config, gathered.facts.consecutive_failures)
        events.append(
            new_event(
                EventType.BREAKER_OPENED,
                target_id=target,
                actor=ACTOR,
                event_id=f"breaker.opened:{target}:{total}",
                occurred_at=now,
                payload={
                    "consecutive_failures": view.consecutive_failures,
                    "threshold": view.threshold,
                },
            )
        )
    if isinstance(gathered.backlog, BacklogError) and gathered.backlog_sha:
        events.append(
            new_event(
                EventType.BACKLOG_INVALID,
                target_id=target,
                actor=ACTOR,
                event_id=f"backlog.invalid:{target}:{gathered.backlog_sha}",
                occurred_at=now,
                payload={
                    "sha": gathered.backlog_sha,
                    **gathered.backlog.as_json(),
                    "error": str(gathered.backlog),
                },
            )
        )
    return events


def cycle_record(
    config: AutonomyConfig,
    gathered: Gathered,
    decision: Decision,
    now: datetime,
    *,
    attempt_id: str | None = None,
    fence: int | None = None,
    dispatched: bool = False,
) -> Event:
    """``scheduler.cycle``: the decision with its reasons and the facts it rested on.

    Per-task verdicts are kept for the first ``TASKS_IN_RECORD`` tasks, with a
    count per reason over all of them, so a huge backlog cannot make every
    tick's record larger than the control plane accepts.
    """
    facts = gathered.facts
    shown = dataclasses.replace(decision, tasks=decision.tasks[:TASKS_IN_RECORD])
    counts = Counter(reason for verdict in decision.tasks for reason in verdict.reasons)
    payload: dict[str, Any] = {
        **decision_json(shown, facts),
        "tasks_total": len(decision.tasks),
        "task_reason_counts": dict(sorted(counts.items())),
        "attempt_id": attempt_id,
        "fence": fence,
        "dispatched": dispatched,
        "backlog_sha": gathered.backlog_sha,
        "facts": {
            "paused": facts.paused,
            "consecutive_failures": facts.consecutive_failures,
            "open_prs": known_count(facts.open_pr_count, facts, OPEN_PR_SOURCES),
            "running": known_count(facts.running_count, facts, RUNNING_SOURCES),
            "tokens_today": facts.tokens_today,
            "unavailable": list(facts.unavailable),
        },
    }
    return new_event(
        EventType.SCHEDULER_CYCLE,
        target_id=config.target_id,
        actor=ACTOR,
        attempt_id=attempt_id,
        task_id=decision.task_id,
        fence=fence,
        payload=payload,
        occurred_at=now,
    )
