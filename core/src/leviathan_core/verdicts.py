"""Per-task verdicts that do not depend on the tick: the part decide() memoises.

A backlog is re-parsed only when its file changes, but decided on every tick;
everything here depends on the configuration and the backlog alone, so it is
worked out once per parsed backlog and kept on it. This is the hot path when a
large backlog changes, which is why it avoids lists, enum lookups and the
NamedTuple constructor per task.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import compress, count
from operator import itemgetter
from typing import NamedTuple

from leviathan_core.backlog import Backlog, TaskEntry
from leviathan_core.config import AutonomyConfig
from leviathan_core.scope import normalize_prefix


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


class TaskVerdict(NamedTuple):
    """One task's verdict; a NamedTuple because a backlog makes one per task per change."""

    name: str | int
    eligible: bool
    reasons: tuple[str, ...]
    messages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StaticRules:
    """The part of the rules that depends on config and backlog only, not on this tick."""

    prefixes: tuple[str, ...]
    allow_completed_dependencies: bool
    # The prefixes as bare folder names: ``docs`` itself is inside ``docs/``.
    folders: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        # Normalised here, whoever builds the rules: the scope check's plain
        # ``startswith`` is boundary-safe only because every prefix ends in '/'.
        prefixes = tuple(normalize_prefix(p) for p in self.prefixes)
        object.__setattr__(self, "prefixes", prefixes)
        object.__setattr__(self, "folders", frozenset(p.rstrip("/") for p in prefixes))

    @classmethod
    def of(cls, config: AutonomyConfig) -> StaticRules:
        return cls(tuple(config.allowed_path_prefixes), config.allow_completed_dependencies)


def scope_problems(task: TaskEntry, rules: StaticRules) -> list[str]:
    """Why a task's allowed paths are out of scope (empty = in scope).

    Works on the paths normalised at parse time, so a check is one
    ``startswith`` per path.
    """
    problems: list[str] = []
    prefixes, folders = rules.prefixes, rules.folders
    for raw, path in zip(task.allowed_paths, task.compared_paths, strict=True):
        if path is None:
            problems.append(f"{raw!r} is not a safe relative path")
        elif not path.startswith(prefixes) and path.rstrip("/") not in folders:
            problems.append(f"{raw!r} is outside {', '.join(prefixes)}")
    return problems


# Plain strings for the hot loop: enum attribute lookups cost more than the checks.
_INVALID = (TaskReason.INVALID_TASK.value,)
_NOT_READY = TaskReason.NOT_READY.value
_NOT_PENDING = TaskReason.STATUS_NOT_PENDING.value
_HAS_DEPS = TaskReason.HAS_DEPENDENCIES.value
_DEPS_OPEN = TaskReason.DEPENDENCIES_NOT_COMPLETED.value
_NO_PATHS = TaskReason.NO_ALLOWED_PATHS.value
_OUT_OF_SCOPE = TaskReason.PATH_OUT_OF_SCOPE.value
_NOT_TRUE = "ready is not true"
_verdict = tuple.__new__
_ELIGIBLE = itemgetter(1)
_NOT_READY_ONLY = (_NOT_READY,)
_NOT_PENDING_ONLY = (_NOT_PENDING,)
_HAS_DEPS_ONLY = (_HAS_DEPS,)
_DEPS_OPEN_ONLY = (_DEPS_OPEN,)
_NO_PATHS_ONLY = (_NO_PATHS,)
_OUT_OF_SCOPE_ONLY = (_OUT_OF_SCOPE,)


def static_verdict(
    task: TaskEntry, rules: StaticRules, statuses: Mapping[str, str | None]
) -> TaskVerdict:
    """The reasons that do not depend on this tick's facts (all but attempts and PRs).

    Called once per task whenever the backlog changes, so it builds no lists
    for the common cases (most tasks have zero or one reason) and makes the
    verdict with ``tuple.__new__``, half the cost of the NamedTuple's own
    constructor.
    """
    name = task.id
    if task.problem is not None or name is None:
        return _verdict(TaskVerdict, (task.name, False, _INVALID, (task.problem or "",)))
    reasons: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    if not task.ready:
        reasons, messages = _NOT_READY_ONLY, (task.ready_note or _NOT_TRUE,)
    status = task.status
    if status is not None and status != "pending":
        reasons += _NOT_PENDING_ONLY
        messages += (f"status is {status!r}; only 'pending' (or no status) is picked",)
    if task.dependencies:
        if not rules.allow_completed_dependencies:
            reasons += _HAS_DEPS_ONLY
        else:
            open_deps = [d for d in task.dependencies if statuses.get(d, "") != "completed"]
            if open_deps:
                reasons += _DEPS_OPEN_ONLY
                messages += (f"not completed (or unknown): {', '.join(open_deps)}",)
    compared = task.compared_paths
    if not compared:
        reasons += _NO_PATHS_ONLY
    else:
        prefixes, folders = rules.prefixes, rules.folders
        for path in compared:
            if path is None or (not path.startswith(prefixes) and path.rstrip("/") not in folders):
                reasons += _OUT_OF_SCOPE_ONLY
                messages += tuple(scope_problems(task, rules))
                break
    return _verdict(TaskVerdict, (name, not reasons, reasons, messages))


@dataclass(frozen=True, slots=True)
class StaticJudgement:
    verdicts: tuple[TaskVerdict, ...]
    eligible: tuple[int, ...]  # indexes of the statically eligible tasks, in file order


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
        eligible = tuple(compress(count(), map(_ELIGIBLE, verdicts)))
        judgement = StaticJudgement(verdicts, eligible)
    backlog.memo[rules] = judgement
    return judgement
