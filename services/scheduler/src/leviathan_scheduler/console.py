"""Operator-facing console blocks, in the seed's format.

Runbooks grep these lines (``grep "PR created:"``), so their wording is a
contract: change it only together with the docs that quote them
(docs/getting-started.md, docs/scheduler.md, docs/worker.md).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import Any

from leviathan_core.budgets import tokens_line
from leviathan_core.config import AutonomyConfig
from leviathan_core.guardrails import Decision, Facts

RULE = "=" * 60
# The readings each shown count is built from (the scheduler takes the larger of
# both): one of them unreadable makes the count unknown, not 0.
OPEN_PR_SOURCES = ("forge", "redis")
RUNNING_SOURCES = ("redis", "control_plane")
# A task's own checks read these: attempts used, an open PR, a running attempt.
TASK_SOURCES = ("forge", "control_plane", "redis")
SOURCE_NAMES = {"forge": "forge", "control_plane": "control plane", "redis": "Redis"}


def _missing(facts: Facts, sources: Iterable[str]) -> list[str]:
    return [source for source in sources if source in facts.unavailable]


def known_count(value: int, facts: Facts, sources: Iterable[str]) -> int | None:
    """``value``, or None when one of the readings it is built from is unavailable."""
    return None if _missing(facts, sources) else value


def _count(value: int, limit: int, facts: Facts, sources: Iterable[str]) -> str:
    known = known_count(value, facts, sources)
    return f"{'unknown' if known is None else known}/{limit}"


def unknown_task_state(facts: Facts) -> str | None:
    """Why no task can be judged eligible with these facts, or None when it can.

    ``Facts`` holds 0 and empty sets for what could not be read; a task that
    passes the static rules is then ``unknown``, not ``eligible``.
    """
    missing = _missing(facts, TASK_SOURCES)
    if not missing:
        return None
    return f"{', '.join(SOURCE_NAMES[s] for s in missing)} unavailable"


def decision_json(decision: Decision, facts: Facts) -> dict[str, Any]:
    """``Decision.as_json`` with ``eligible: null`` where a fact it needs is unknown."""
    payload = decision.as_json()
    unknown = unknown_task_state(facts)
    tasks = payload["tasks"]
    if unknown is not None and isinstance(tasks, list):
        for task in tasks:
            if task["eligible"]:
                task["eligible"] = None
                task["messages"] = [*task["messages"], f"unknown: {unknown}"]
    return payload


def banner(title: str) -> list[str]:
    return [RULE, title, RULE]


def scheduler_block(
    config: AutonomyConfig,
    facts: Facts,
    decision: Decision,
    *,
    backlog_size: int | None,
    attempt_id: str | None = None,
) -> list[str]:
    """The scheduler's block: facts, then the selected task or why nothing was selected."""
    lines = banner("Leviathan Scheduler")
    lines += [
        f"Target: {config.target_id}",
        f"Repo: {config.target_repo_url}",
        f"Open PRs: {_count(facts.open_pr_count, config.max_open_prs, facts, OPEN_PR_SOURCES)}",
        "Running attempts: "
        + _count(facts.running_count, config.max_running_attempts, facts, RUNNING_SOURCES),
        f"Backlog tasks: {backlog_size if backlog_size is not None else 'unknown'}",
    ]
    if config.daily_token_budget is not None:
        lines.append(tokens_line(facts.tokens_today, config.daily_token_budget))
    if decision.action == "dispatch" and decision.task is not None:
        task = decision.task
        lines += [
            f"→ Selected task: {task.id}",
            f"  Title: {task.title}",
            f"  Scope: {task.scope or '-'}",
        ]
        if attempt_id:
            lines.append(f"  Attempt ID: {attempt_id}")
        lines.append(f"  Attempt number: {decision.attempt_number}/{config.max_attempts_per_task}")
        if decision.breaker_probe:
            lines.append(f"  Breaker: half-open, probe after {facts.consecutive_failures} failures")
        return lines
    lines.append(f"✗ No task selected: {decision.reason}")
    lines += [f"  {m}" for m in decision.messages]
    lines += task_lines(decision, facts)
    return lines


def task_lines(decision: Decision, facts: Facts | None = None) -> list[str]:
    """One line per task: eligible, unknown (a fact it needs is unreadable), or its reasons."""
    unknown = unknown_task_state(facts) if facts is not None else None
    out = []
    for verdict in decision.tasks:
        if verdict.eligible:
            state = f"unknown ({unknown})" if unknown else "eligible"
            out.append(f"  - {verdict.name}: {state}")
            continue
        detail = f" ({'; '.join(verdict.messages)})" if verdict.messages else ""
        out.append(f"  - {verdict.name}: {', '.join(verdict.reasons)}{detail}")
    return out


_EMIT = threading.Lock()


def emit(lines: Iterable[str]) -> None:
    """One block at a time: the threads of a threads-pool worker never interleave lines."""
    text = "\n".join(lines) + "\n"
    with _EMIT:
        sys.stdout.write(text)
        sys.stdout.flush()
