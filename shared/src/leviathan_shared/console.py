"""Operator-facing console blocks, in the seed's format.

Runbooks grep these lines (``grep "PR created:"``), so their wording is a
contract: change it only together with the README.
"""

from __future__ import annotations

from collections.abc import Iterable

from leviathan_shared.config import AutonomyConfig
from leviathan_shared.guardrails import Decision, Facts

RULE = "=" * 60


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
        f"Open PRs: {facts.open_pr_count}/{config.max_open_prs}",
        f"Running attempts: {facts.running_count}/{config.max_running_attempts}",
        f"Backlog tasks: {backlog_size if backlog_size is not None else 'unknown'}",
    ]
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
    lines += task_lines(decision)
    return lines


def task_lines(decision: Decision) -> list[str]:
    """One line per task that was not eligible, with its reason codes and messages."""
    out = []
    for verdict in decision.tasks:
        if verdict.eligible:
            out.append(f"  - {verdict.name}: eligible")
            continue
        detail = f" ({'; '.join(verdict.messages)})" if verdict.messages else ""
        out.append(f"  - {verdict.name}: {', '.join(verdict.reasons)}{detail}")
    return out


def emit(lines: Iterable[str]) -> None:
    print("\n".join(lines), flush=True)
