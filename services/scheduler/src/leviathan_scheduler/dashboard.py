"""Keep a target's dashboard issue in step with its cycles (``dashboard_issue: true``).

Called at the end of every cycle that decided something. The body is
rendered from the cycle's own readings (``leviathan_core.dashboard``); the
issue is looked up by its label with a conditional GET (304 on an idle tick,
no rate limit), and written only when the body differs from the one written
last (its digest is kept in Redis) or from the one on GitHub (a maintainer
ticked a box, or edited the text). A cycle whose facts were not all readable
leaves the issue as it is, since its view would be partial.

Nothing here can change or fail a cycle: every error is logged and the next
tick tries again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from leviathan_core import breaker
from leviathan_core.backlog import Backlog, BacklogError
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import dashboard_key
from leviathan_core.dashboard import (
    DashboardView,
    TaskRow,
    TaskState,
    digest,
    marker,
    render,
    title,
)
from leviathan_core.guardrails import Decision
from leviathan_scheduler.deps import CycleDeps
from leviathan_scheduler.facts import Gathered

if TYPE_CHECKING:
    from leviathan_adapters.forge.github_issues import GitHubIssues

log = logging.getLogger(__name__)
Outcome = Literal["off", "partial", "unchanged", "created", "updated", "failed"]


def _pr_urls(gathered: Gathered) -> dict[str, str]:
    urls = {pr.task_id: pr.url for pr in gathered.forge_prs or () if pr.task_id}
    for pr in gathered.state.open_prs if gathered.state else ():
        if pr.task_id:
            urls.setdefault(pr.task_id, pr.pr_url)
    return urls


def task_rows(
    backlog: Backlog, gathered: Gathered, decision: Decision, dispatched: str | None
) -> tuple[TaskRow, ...]:
    """Pure: each task's state, in file order; done, PR open, running, then the verdict."""
    facts = gathered.facts
    urls = _pr_urls(gathered)
    verdicts = {index: v for index, v in enumerate(decision.tasks)}
    rows = []
    for index, task in enumerate(backlog.tasks):
        task_id = task.id if task.id is not None else f"#{index}"
        verdict = verdicts.get(index)
        reasons: tuple[str, ...] = ()
        state: TaskState
        if task.status == "completed":
            state = "done"
        elif task_id in urls or task_id in facts.open_pr_task_ids:
            state = "pr_open"
        elif task_id == dispatched or task_id in facts.running_task_ids:
            state = "running"
        elif verdict is not None and verdict.eligible:
            state = "eligible"
        else:
            state = "skipped"
            reasons = tuple(verdict.reasons) if verdict else ()
        rows.append(
            TaskRow(
                task_id=task_id,
                title=task.title,
                state=state,
                reasons=reasons,
                pr_url=urls.get(task_id),
                attempts=facts.attempts_per_task.get(task_id, 0) + (task_id == dispatched),
            )
        )
    return tuple(rows)


def view_of(
    config: AutonomyConfig, gathered: Gathered, decision: Decision, dispatched: str | None
) -> DashboardView:
    """Pure: what the dashboard shows after this cycle."""
    facts = gathered.facts
    backlog = gathered.backlog
    rows = (
        task_rows(backlog, gathered, decision, dispatched) if isinstance(backlog, Backlog) else ()
    )
    problem = str(backlog) if isinstance(backlog, BacklogError) else None
    pause = gathered.pause
    view = breaker.BreakerView.of(config, facts.consecutive_failures)
    return DashboardView(
        target_id=config.target_id,
        attempt_cap=config.max_attempts_per_task,
        rows=rows,
        paused=facts.paused,
        pause_reason=pause.reason if pause else facts.pause_reason,
        pause_by=pause.by if pause else None,
        consecutive_failures=view.consecutive_failures,
        breaker_threshold=view.threshold,
        breaker_open=view.open,
        decision=None if dispatched else decision.reason,
        dispatched_task=dispatched,
        backlog_problem=problem,
    )


def issues_for(deps: CycleDeps) -> GitHubIssues | None:
    """The issue calls on this target's forge, or None for a forge without issues."""
    from leviathan_adapters.forge.github import GitHubForge
    from leviathan_adapters.forge.github_issues import GitHubIssues

    return GitHubIssues(deps.forge) if isinstance(deps.forge, GitHubForge) else None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def write(config: AutonomyConfig, deps: CycleDeps, body: str) -> Outcome:
    """Create or edit the issue when ``body`` differs from what was written and what is there."""
    issues = issues_for(deps)
    if issues is None:
        log.warning("target %s: dashboard_issue needs forge: github", config.target_id)
        return "failed"
    key = dashboard_key(config.target_id)
    wanted = digest(body)
    stored = {_text(k): _text(v) for k, v in deps.redis.hgetall(key).items()}
    written, number = stored.get("digest"), stored.get("number", "")
    known = int(number) if number.isdigit() else None
    found = issues.find(config.dashboard_label, marker(config.target_id), known)
    if found is None:
        created = issues.create(title(config.target_id), body, config.dashboard_label)
        deps.redis.hset(key, mapping={"digest": wanted, "number": created.number})
        log.info("target %s: dashboard issue #%s created", config.target_id, created.number)
        return "created"
    if written == wanted and digest(found.body) == wanted and found.state == "open":
        return "unchanged"
    issues.update(found.number, body, reopen=found.state != "open")
    deps.redis.hset(key, mapping={"digest": wanted, "number": found.number})
    return "updated"


def refresh(
    config: AutonomyConfig,
    deps: CycleDeps,
    gathered: Gathered,
    decision: Decision,
    dispatched: str | None = None,
) -> Outcome:
    """Bring the dashboard up to date after a cycle; never raises."""
    if not config.dashboard_issue:
        return "off"
    if gathered.facts.unavailable:
        return "partial"
    try:
        body = render(view_of(config, gathered, decision, dispatched))
        return write(config, deps, body)
    except Exception as exc:  # a dashboard must never fail a cycle
        log.warning("target %s: dashboard issue not updated: %s", config.target_id, exc)
        return "failed"
