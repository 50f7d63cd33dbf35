"""The selection rule: ``decide(config, backlog, facts) -> Decision``. Pure, no I/O.

Everything the scheduler, ``leviathan plan`` and the tests agree on lives
here, so "why did nothing happen" has exactly one answer. Cycle reasons are
checked in a fixed order and the first that applies is reported; every task
gets all of its own reasons so an operator sees everything to fix at once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from leviathan_shared.backlog import Backlog, BacklogError, TaskEntry
from leviathan_shared.config import AutonomyConfig
from leviathan_shared.scope import ScopeError, normalize_path, normalize_prefix, within_prefixes


class CycleReason(StrEnum):
    DISABLED = "disabled"
    PAUSED = "paused"
    BREAKER_OPEN = "breaker_open"
    MAX_OPEN_PRS = "max_open_prs"
    MAX_RUNNING_ATTEMPTS = "max_running_attempts"
    BACKLOG_INVALID = "backlog_invalid"
    NO_ELIGIBLE_TASK = "no_eligible_task"


class TaskReason(StrEnum):
    NOT_READY = "not_ready"
    STATUS_NOT_PENDING = "status_not_pending"
    HAS_DEPENDENCIES = "has_dependencies"
    DEPENDENCIES_NOT_COMPLETED = "dependencies_not_completed"
    NO_ALLOWED_PATHS = "no_allowed_paths"
    PATH_OUT_OF_SCOPE = "path_out_of_scope"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    OPEN_PR_EXISTS = "open_pr_exists"
    ATTEMPT_RUNNING = "attempt_running"
    INVALID_TASK = "invalid_task"


FACT_SOURCES = ("forge", "control_plane", "redis", "backlog")


def unavailable_reason(source: str) -> str:
    return f"fact_unavailable:{source}"


@dataclass(frozen=True)
class Facts:
    """What the world looks like this tick, gathered by the scheduler (or given to plan)."""

    paused: bool = False
    pause_reason: str | None = None
    breaker_open: bool = False
    consecutive_failures: int = 0
    open_pr_count: int = 0
    open_pr_task_ids: frozenset[str] = frozenset()
    running_count: int = 0
    running_task_ids: frozenset[str] = frozenset()
    attempts_per_task: Mapping[str, int] = field(default_factory=dict)
    unavailable: tuple[str, ...] = ()
    unavailable_messages: tuple[str, ...] = ()


class TaskVerdict(NamedTuple):
    """One task's verdict; a NamedTuple because a backlog makes one per task per change."""

    name: str | int
    eligible: bool
    reasons: tuple[str, ...]
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    action: str  # "dispatch" | "skip"
    reason: str | None
    task: TaskEntry | None = None
    attempt_number: int | None = None
    tasks: tuple[TaskVerdict, ...] = ()
    messages: tuple[str, ...] = ()
    breaker_tripped: bool = False

    @property
    def task_id(self) -> str | None:
        return self.task.id if self.task else None

    def as_json(self) -> dict[str, object]:
        """The ``plan --json`` / ``scheduler.cycle`` form."""
        return {
            "action": self.action,
            "reason": self.reason,
            "task_id": self.task_id,
            "attempt_number": self.attempt_number,
            "reasons": [self.reason] if self.reason else [],
            "messages": list(self.messages),
            "tasks": [
                {
                    "id": v.name,
                    "eligible": v.eligible,
                    "reasons": list(v.reasons),
                    "messages": list(v.messages),
                }
                for v in self.tasks
            ],
        }


@lru_cache(maxsize=262_144)
def scope_problems(paths: tuple[str, ...], prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """Why a task's allowed paths are out of scope (empty = in scope).

    Cached per (paths, prefixes): every tick re-judges the same backlog.
    """
    problems = []
    for raw in paths:
        try:
            path = normalize_path(raw)
        except ScopeError:
            problems.append(f"{raw!r} is not a safe relative path")
            continue
        if not within_prefixes(path, prefixes):
            problems.append(f"{raw!r} is outside {', '.join(prefixes)}")
    return tuple(problems)


@dataclass(frozen=True, slots=True)
class StaticRules:
    """The part of the rules that depends on config and backlog only, not on this tick."""

    prefixes: tuple[str, ...]
    allow_completed_dependencies: bool

    @classmethod
    def of(cls, config: AutonomyConfig) -> StaticRules:
        return cls(
            prefixes=tuple(normalize_prefix(p) for p in config.allowed_path_prefixes),
            allow_completed_dependencies=config.allow_completed_dependencies,
        )


# Plain strings for the hot loop: enum attribute lookups cost more than the checks.
_INVALID = (TaskReason.INVALID_TASK.value,)
_NOT_READY = TaskReason.NOT_READY.value
_NOT_PENDING = TaskReason.STATUS_NOT_PENDING.value
_HAS_DEPS = TaskReason.HAS_DEPENDENCIES.value
_DEPS_OPEN = TaskReason.DEPENDENCIES_NOT_COMPLETED.value
_NO_PATHS = TaskReason.NO_ALLOWED_PATHS.value
_OUT_OF_SCOPE = TaskReason.PATH_OUT_OF_SCOPE.value


def static_verdict(
    task: TaskEntry, rules: StaticRules, statuses: Mapping[str, str | None]
) -> TaskVerdict:
    """The reasons that do not depend on this tick's facts (all but attempts and PRs)."""
    if task.problem is not None:
        name = task.index if task.id is None else task.id
        return TaskVerdict(name, False, _INVALID, (task.problem,))
    reasons: list[str] = []
    messages: list[str] = []
    if not task.ready:
        reasons.append(_NOT_READY)
        messages.append(task.ready_note or "ready is not true")
    status = task.status
    if status is not None and status != "pending":
        reasons.append(_NOT_PENDING)
        messages.append(f"status is {status!r}; only 'pending' (or no status) is picked")
    if task.dependencies:
        if not rules.allow_completed_dependencies:
            reasons.append(_HAS_DEPS)
        else:
            open_deps = [d for d in task.dependencies if statuses.get(d, "") != "completed"]
            if open_deps:
                reasons.append(_DEPS_OPEN)
                messages.append(f"not completed (or unknown): {', '.join(open_deps)}")
    paths = task.allowed_paths
    if not paths:
        reasons.append(_NO_PATHS)
    else:
        problems = scope_problems(paths, rules.prefixes)
        if problems:
            reasons.append(_OUT_OF_SCOPE)
            messages.extend(problems)
    if not reasons:
        return TaskVerdict(task.id or task.index, True, (), ())
    return TaskVerdict(task.id or task.index, False, tuple(reasons), tuple(messages))


def with_facts(
    verdict: TaskVerdict, task_id: str, config: AutonomyConfig, facts: Facts
) -> TaskVerdict:
    """Add this tick's reasons (attempts used, an open PR) to a static verdict."""
    if verdict.reasons == (TaskReason.INVALID_TASK,):
        return verdict
    reasons, messages = list(verdict.reasons), list(verdict.messages)
    used = facts.attempts_per_task.get(task_id, 0)
    if used >= config.max_attempts_per_task:
        reasons.append(TaskReason.ATTEMPTS_EXHAUSTED)
        messages.append(f"{used}/{config.max_attempts_per_task} attempts used")
    if task_id in facts.open_pr_task_ids:
        reasons.append(TaskReason.OPEN_PR_EXISTS)
    if task_id in facts.running_task_ids:
        reasons.append(TaskReason.ATTEMPT_RUNNING)
    if len(reasons) == len(verdict.reasons):
        return verdict
    return TaskVerdict(verdict.name, False, tuple(reasons), tuple(messages))


@dataclass(frozen=True, slots=True)
class StaticJudgement:
    verdicts: tuple[TaskVerdict, ...]
    index_by_id: Mapping[str, int]
    eligible: tuple[int, ...]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while one verdict per task is built.

    The verdicts hold no reference cycles, but with 100,000 tasks alive every
    full collection triggered by the allocations walks the whole backlog again,
    which made the judgement grow quadratically. Reference counting still frees
    memory meanwhile; the collector's previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def judge_backlog(backlog: Backlog, rules: StaticRules) -> StaticJudgement:
    """Static verdicts for every task, memoised on the backlog.

    The scheduler re-decides the same parsed backlog on every tick (it is
    re-parsed only when its blob changes), so only the facts part is redone.
    """
    cached = backlog.memo.get(rules)
    if isinstance(cached, StaticJudgement):
        return cached
    tasks = backlog.tasks
    statuses: Mapping[str, str | None] = (
        {t.id: t.status for t in tasks if t.id is not None}
        if rules.allow_completed_dependencies
        else {}
    )
    with _collector_paused():
        verdicts = tuple([static_verdict(task, rules, statuses) for task in tasks])
        judgement = StaticJudgement(
            verdicts=verdicts,
            index_by_id={t.id: i for i, t in enumerate(tasks) if t.id is not None},
            eligible=tuple([i for i, v in enumerate(verdicts) if v[1]]),
        )
    backlog.memo[rules] = judgement
    return judgement


def _cycle_reason(config: AutonomyConfig, facts: Facts) -> tuple[str | None, list[str], bool]:
    """The first cycle-level reason that applies, in the documented order."""
    tripped = facts.consecutive_failures >= config.circuit_breaker_failures
    if not config.autonomy_enabled:
        return CycleReason.DISABLED, ["autonomy_enabled is false in the configuration"], tripped
    if facts.paused:
        return CycleReason.PAUSED, [f"paused: {facts.pause_reason or 'no reason given'}"], tripped
    if facts.breaker_open or tripped:
        return (
            CycleReason.BREAKER_OPEN,
            [
                f"{facts.consecutive_failures} consecutive failures "
                f"(limit {config.circuit_breaker_failures}); reset with `leviathan reset-breaker`"
            ],
            tripped,
        )
    if facts.unavailable:
        return unavailable_reason(facts.unavailable[0]), list(facts.unavailable_messages), tripped
    if facts.open_pr_count >= config.max_open_prs:
        return (
            CycleReason.MAX_OPEN_PRS,
            [f"Open PRs: {facts.open_pr_count}/{config.max_open_prs}"],
            tripped,
        )
    if facts.running_count >= config.max_running_attempts:
        return (
            CycleReason.MAX_RUNNING_ATTEMPTS,
            [f"Running attempts: {facts.running_count}/{config.max_running_attempts}"],
            tripped,
        )
    return None, [], tripped


def decide(
    config: AutonomyConfig, backlog: Backlog | BacklogError | None, facts: Facts
) -> Decision:
    """Pick the first eligible task in file order, or say exactly why nothing runs.

    ``backlog`` is None only when it could not be read at all (then
    ``facts.unavailable`` names ``backlog``); a BacklogError is a file that was
    read but cannot be used.
    """
    reason, messages, tripped = _cycle_reason(config, facts)
    verdicts: tuple[TaskVerdict, ...] = ()
    chosen: TaskEntry | None = None
    if isinstance(backlog, Backlog):
        judgement = judge_backlog(backlog, StaticRules.of(config))
        patched = list(judgement.verdicts)
        touched = set(facts.open_pr_task_ids).union(facts.attempts_per_task, facts.running_task_ids)
        for task_id in touched:
            index = judgement.index_by_id.get(task_id)
            if index is not None:
                patched[index] = with_facts(patched[index], task_id, config, facts)
        verdicts = tuple(patched)
        chosen = next((backlog.tasks[i] for i in judgement.eligible if patched[i].eligible), None)
    if reason is None and isinstance(backlog, BacklogError):
        reason, messages = CycleReason.BACKLOG_INVALID, [str(backlog)]
    if reason is None and backlog is None:
        reason, messages = unavailable_reason("backlog"), ["the backlog could not be read"]
    if reason is None and chosen is None:
        reason, messages = CycleReason.NO_ELIGIBLE_TASK, ["no task passes every guardrail"]
    if reason is not None:
        return Decision("skip", reason, None, None, verdicts, tuple(messages), tripped)
    assert chosen is not None and chosen.id is not None
    number = facts.attempts_per_task.get(chosen.id, 0) + 1
    return Decision("dispatch", None, chosen, number, verdicts, (), tripped)
