"""Gather the facts a cycle decides on, failing closed on anything unreadable.

Each system of record is read once. Counts that two systems know are combined
by taking the larger: running attempts from Redis slot holders and from the
control plane, open PRs from the forge and from the PR slot holders, so
neither a Redis restart (slots lost) nor a slow forge (PR not listed yet) can
make a cycle admit more than the caps (the first layer in ``leviathan_core.caps``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from redis.exceptions import RedisError

from leviathan_adapters import slots
from leviathan_adapters.backlog_source import BacklogUnavailable
from leviathan_adapters.control_plane_client import ControlPlaneRejected, ControlPlaneUnavailable
from leviathan_adapters.forge.base import ForgeUnavailable, PullRequestInfo
from leviathan_core import breaker
from leviathan_core.backlog import Backlog, BacklogError
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import BACKLOG_PATH, task_of_attempt
from leviathan_core.guardrails import FACT_SOURCES, Facts
from leviathan_core.state import TargetState
from leviathan_core.usage import usage_day
from leviathan_scheduler.deps import CycleDeps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gathered:
    """The facts plus the raw readings they came from (for events, status and tests)."""

    facts: Facts
    backlog: Backlog | BacklogError | None
    backlog_sha: str | None = None
    state: TargetState | None = None
    holders: slots.Holders | None = None
    pause: slots.PauseState | None = None
    forge_prs: tuple[PullRequestInfo, ...] | None = None

    @property
    def backlog_size(self) -> int | None:
        return len(self.backlog.tasks) if isinstance(self.backlog, Backlog) else None


def combine(
    *,
    pause: slots.PauseState | None,
    holders: slots.Holders | None,
    state: TargetState | None,
    forge_prs: tuple[PullRequestInfo, ...] | None,
    unavailable: dict[str, str],
    last_failure_age: float | None = None,
    today: date | None = None,
) -> Facts:
    """Pure: the readings that could be taken, folded into ``Facts``.

    The tokens count only when the state reports them for ``today`` (the
    cycle's UTC day); another day's sum is unknown, not zero.
    """
    running = max(
        len(holders.running) if holders else 0,
        len(state.running_attempts) if state else 0,
    )
    open_prs = max(
        len(forge_prs) if forge_prs is not None else 0, len(holders.pr) if holders else 0
    )
    pr_tasks = {pr.task_id for pr in forge_prs or () if pr.task_id}
    pr_tasks |= {pr.task_id for pr in (state.open_prs if state else ()) if pr.task_id}
    running_tasks = {a.task_id for a in (state.running_attempts if state else ()) if a.task_id}
    running_tasks |= {task_of_attempt(a) or "" for a in (holders.running if holders else ())}
    running_tasks.discard("")
    order = sorted(unavailable, key=FACT_SOURCES.index)
    tokens = None
    if state is not None and (today is None or state.usage_day == today):
        tokens = state.tokens_today
    return Facts(
        paused=pause is not None,
        pause_reason=pause.reason if pause else None,
        consecutive_failures=state.consecutive_failures if state else 0,
        last_failure_age_seconds=last_failure_age,
        open_pr_count=open_prs,
        open_pr_task_ids=frozenset(pr_tasks),
        running_count=running,
        running_task_ids=frozenset(running_tasks),
        attempts_per_task=dict(state.attempts_per_task) if state else {},
        tokens_today=tokens,
        unavailable=tuple(order),
        unavailable_messages=tuple(unavailable[k] for k in order),
    )


def breaker_is_open(config: AutonomyConfig, state: TargetState) -> bool:
    """The control plane's count against this target's current threshold (``breaker``)."""
    return breaker.is_open(config, state.consecutive_failures)


def last_failure_age(
    config: AutonomyConfig, deps: CycleDeps, state: TargetState | None
) -> float | None:
    """Seconds since the newest failed attempt, read only for a breaker probe.

    One extra read, and only while the breaker is open with probes configured;
    None (no probe) when it cannot be read.
    """
    if config.breaker_probe_after_seconds is None or state is None:
        return None
    if not breaker_is_open(config, state):
        return None
    try:
        newest = deps.control_plane.list_failures(config.target_id, limit=1)
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        log.warning("target %s: no breaker probe, failures unreadable: %s", config.target_id, exc)
        return None
    when = (newest[0].updated_at or newest[0].created_at) if newest else None
    if when is None:
        return None
    return (deps.clock() - when).total_seconds()


def gather(config: AutonomyConfig, deps: CycleDeps, known: TargetState | None = None) -> Gathered:
    """Read every fact; each one that cannot be read is named in ``facts.unavailable``.

    ``known``: the control plane's state as this cycle's reconcile read it for
    today, when the reconcile changed nothing: reading it again would cost a
    round trip for the same answer.
    """
    target = config.target_id
    unavailable: dict[str, str] = {}
    pause: slots.PauseState | None = None
    holders: slots.Holders | None = None
    state: TargetState | None = None
    forge_prs: tuple[PullRequestInfo, ...] | None = None
    backlog: Backlog | BacklogError | None = None
    sha: str | None = None
    today = usage_day(deps.clock())
    try:
        pause = slots.pause_state(deps.redis, target)
        holders = slots.holders(deps.redis, target)
    except RedisError as exc:
        unavailable["redis"] = f"Redis: {exc}"
    try:
        state = known if known is not None and known.usage_day == today else None
        state = state or deps.control_plane.target_state(target, today)
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        unavailable["control_plane"] = f"control plane: {exc}"
    try:
        forge_prs = tuple(deps.forge.open_agent_prs())
    except ForgeUnavailable as exc:
        unavailable["forge"] = f"forge: {exc}"
    try:
        snapshot = deps.backlog.read()
        sha = snapshot.sha
        backlog = deps.parsed.parse(snapshot.sha, snapshot.data, f"{target}:{BACKLOG_PATH}")
    except BacklogUnavailable as exc:
        unavailable["backlog"] = f"backlog: {exc}"
    for message in unavailable.values():
        log.warning("target %s: fact unavailable: %s", target, message)
    facts = combine(
        pause=pause,
        holders=holders,
        state=state,
        forge_prs=forge_prs,
        unavailable=unavailable,
        last_failure_age=last_failure_age(config, deps, state),
        today=today,
    )
    return Gathered(facts, backlog, sha, state, holders, pause, forge_prs)
