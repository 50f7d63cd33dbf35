"""Close what the world already closed: dead or overdue runs, merged PRs, stale slots.

Runs at the start of every cycle and as its own beat entry. Judgements are
pure (``judge_attempt``); the rest reads each system of record and writes the
consequences. Events carry deterministic ids, so two reconcilers racing (or
one retried) record each fact once. Slots are released only when the
attempt's end is known; an attempt the control plane has not heard of yet
(its ``attempt.created`` is still spooled) keeps its slots until the lease
runs out, which is the last resort for anything lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError

from leviathan_adapters import slots
from leviathan_adapters.control_plane_client import ControlPlaneRejected, ControlPlaneUnavailable
from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable, PullRequestInfo
from leviathan_core.config import AutonomyConfig
from leviathan_core.events import EventType, FailureReason, new_event
from leviathan_core.runs import ExecutorUnavailable, RunStatus
from leviathan_core.state import AttemptSummary, OpenPullRequest, TargetState
from leviathan_core.usage import usage_day
from leviathan_scheduler.deps import CycleDeps

log = logging.getLogger(__name__)
ACTOR = "leviathan-reconciler"
TERMINAL = frozenset({"succeeded", "failed"})
NOT_FOUND = 404


@dataclass(frozen=True)
class Verdict:
    """What to do about one attempt the control plane still counts as running."""

    fail: FailureReason | None = None
    message: str = ""
    delete_run: bool = False


@dataclass
class ReconcileReport:
    failed: list[tuple[str, str]] = field(default_factory=list)
    released_running: list[str] = field(default_factory=list)
    released_pr: list[str] = field(default_factory=list)
    closed_prs: list[int] = field(default_factory=list)
    renewed_pr: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    # The state read at the start; still the state when nothing above changed.
    state: TargetState | None = field(default=None, repr=False, compare=False)

    @property
    def changed(self) -> bool:
        return bool(self.failed or self.released_running or self.released_pr or self.closed_prs)


def slot_lease_seconds(config: AutonomyConfig) -> int:
    """Long enough that the reconciler always acts first; short enough to heal a loss."""
    return (
        config.attempt_timeout_seconds
        + config.attempt_grace_seconds
        + 2 * config.reconcile_interval_seconds
    )


def _age(attempt: AttemptSummary, now: datetime) -> timedelta | None:
    if attempt.created_at is None:
        return None
    created = attempt.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return now - created


def judge_attempt(
    attempt: AttemptSummary, run: RunStatus | None, now: datetime, config: AutonomyConfig
) -> Verdict:
    """Pure: fail an attempt whose run failed, vanished or outlived its deadline."""
    age = _age(attempt, now)
    grace = timedelta(seconds=config.attempt_grace_seconds)
    deadline = timedelta(seconds=config.attempt_timeout_seconds) + grace
    if age is not None and age > deadline:
        return Verdict(
            FailureReason.TIMEOUT,
            f"no result after {int(age.total_seconds())}s "
            f"(attempt_timeout_seconds {config.attempt_timeout_seconds} + grace)",
            delete_run=True,
        )
    if run is None:
        return Verdict()
    if run.state == "failed":
        return Verdict(FailureReason.JOB_FAILED, run.detail or "the worker run failed")
    if run.state == "missing":
        # A created attempt may still sit in the dispatch queue: give it the grace period.
        started = attempt.status in ("dispatched", "running")
        if started or (age is not None and age > grace):
            where = "after dispatch" if started else f"{int(grace.total_seconds())}s after creation"
            return Verdict(FailureReason.JOB_MISSING, f"the worker run is missing {where}")
    return Verdict()


def _run_status(deps: CycleDeps, attempt_id: str, report: ReconcileReport) -> RunStatus | None:
    if deps.runs is None:
        return None
    try:
        return deps.runs.status(attempt_id)
    except ExecutorUnavailable as exc:
        log.warning("executor unavailable for %s: %s", attempt_id, exc)
        if "executor" not in report.unavailable:
            report.unavailable.append("executor")
        return None


def _fail(
    deps: CycleDeps, config: AutonomyConfig, attempt: AttemptSummary, verdict: Verdict
) -> None:
    assert verdict.fail is not None
    if verdict.delete_run and deps.runs is not None:
        try:
            deps.runs.delete(attempt.attempt_id)
        except ExecutorUnavailable as exc:
            log.warning("could not delete the run of %s: %s", attempt.attempt_id, exc)
    event = new_event(
        EventType.ATTEMPT_FAILED,
        target_id=config.target_id,
        actor=ACTOR,
        attempt_id=attempt.attempt_id,
        task_id=attempt.task_id,
        fence=attempt.fence,
        payload={"reason": verdict.fail.value, "message": verdict.message},
        occurred_at=deps.clock(),
    )
    try:
        deps.control_plane.post_event(event)
    except ControlPlaneRejected as exc:  # already terminal: someone recorded the end first
        log.info("attempt %s already ended: %s", attempt.attempt_id, exc)


def _close_pr(
    deps: CycleDeps, config: AutonomyConfig, pr: OpenPullRequest, closed: PullRequestInfo
) -> None:
    event = new_event(
        EventType.PR_CLOSED,
        target_id=config.target_id,
        actor=ACTOR,
        attempt_id=pr.attempt_id,
        task_id=pr.task_id,
        event_id=f"pr.closed:{config.target_id}:{pr.pr_number}",
        payload={"pr_number": pr.pr_number, "state": closed.state, "pr_url": pr.pr_url},
        occurred_at=deps.clock(),
    )
    try:
        deps.control_plane.post_event(event)
    except ControlPlaneRejected as exc:
        log.warning("pr.closed for #%s refused: %s", pr.pr_number, exc)


def _reconcile_running(
    deps: CycleDeps, config: AutonomyConfig, state: TargetState, report: ReconcileReport
) -> set[str]:
    """Fail dead or overdue attempts (``report.failed``); returns the ids still running."""
    still_running: set[str] = set()
    now = deps.clock()
    for attempt in state.running_attempts:
        verdict = judge_attempt(attempt, _run_status(deps, attempt.attempt_id, report), now, config)
        if verdict.fail is None:
            still_running.add(attempt.attempt_id)
            continue
        _fail(deps, config, attempt, verdict)
        report.failed.append((attempt.attempt_id, verdict.fail.value))
        log.warning("attempt %s failed: %s (%s)", attempt.attempt_id, verdict.fail, verdict.message)
    return still_running


def _ended(deps: CycleDeps, attempt_id: str) -> bool:
    """True only when the control plane knows the attempt and it is terminal."""
    try:
        timeline = deps.control_plane.get_attempt(attempt_id)
    except ControlPlaneRejected as exc:
        if exc.status == NOT_FOUND:  # not recorded yet (its attempt.created may be spooled)
            return False
        raise
    return AttemptSummary.model_validate(timeline["attempt"]).status in TERMINAL


def _reconcile_prs(
    deps: CycleDeps,
    config: AutonomyConfig,
    state: TargetState,
    forge_prs: list[PullRequestInfo],
    report: ReconcileReport,
) -> set[str]:
    """Record PRs the forge closed or merged; returns attempts whose PR is still open."""
    open_numbers = {pr.number for pr in forge_prs}
    with_open_pr = {pr.attempt_id for pr in forge_prs if pr.attempt_id}
    for pr in state.open_prs:
        if pr.pr_number in open_numbers:
            continue
        try:
            current = deps.forge.get_pull_request(pr.pr_number)
        except ForgeRejected as exc:
            log.warning("PR #%s cannot be read: %s", pr.pr_number, exc)
            continue
        if current.state == "open":
            if pr.attempt_id:
                with_open_pr.add(pr.attempt_id)
            continue
        _close_pr(deps, config, pr, current)
        report.closed_prs.append(pr.pr_number)
    return with_open_pr


def reconcile(config: AutonomyConfig, deps: CycleDeps) -> ReconcileReport:
    """One reconciliation pass for one target; never raises for an unreachable system."""
    report = ReconcileReport()
    target = config.target_id
    try:
        state = deps.control_plane.target_state(target, usage_day(deps.clock()))
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        log.warning("reconcile %s: control plane unavailable: %s", target, exc)
        report.unavailable.append("control_plane")
        return report
    report.state = state
    try:
        still_running = _reconcile_running(deps, config, state, report)
        seen = slots.holders(deps.redis, target)
        lease = slot_lease_seconds(config)
        failed_now = {attempt_id for attempt_id, _ in report.failed}
        for attempt_id in seen.running:
            if attempt_id in still_running:
                continue
            if attempt_id in failed_now or _ended(deps, attempt_id):
                slots.release_running(deps.redis, target, attempt_id)
                report.released_running.append(attempt_id)
        if not seen.pr and not state.open_prs:
            return report  # nothing to ask the forge about: an idle tick spends no request
        try:
            with_open_pr = _reconcile_prs(deps, config, state, deps.forge.open_agent_prs(), report)
        except ForgeUnavailable as exc:
            log.warning("reconcile %s: forge unavailable, PR slots kept: %s", target, exc)
            report.unavailable.append("forge")
            return report
        running_now = set(slots.holders(deps.redis, target).running)
        for attempt_id in seen.pr:
            if attempt_id in with_open_pr:
                slots.renew(deps.redis, target, attempt_id, lease_seconds=lease, running=False)
                report.renewed_pr.append(attempt_id)
            elif attempt_id not in running_now and attempt_id not in still_running:
                slots.release_pr(deps.redis, target, attempt_id)
                report.released_pr.append(attempt_id)
    except RedisError as exc:
        log.warning("reconcile %s: Redis unavailable: %s", target, exc)
        report.unavailable.append("redis")
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        log.warning("reconcile %s: control plane unavailable: %s", target, exc)
        report.unavailable.append("control_plane")
    return report
