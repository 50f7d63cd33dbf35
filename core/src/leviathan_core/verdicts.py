"""Per-task verdicts that do not depend on the tick: the part decide() memoises.

A backlog is re-parsed only when its file changes, but decided on every tick;
everything here depends on the configuration and the backlog alone, so it is
worked out once per parsed backlog and kept on it. What does not even depend
on the configuration is worked out once per entry at parse time: each allowed
path made comparable (``TaskEntry.compared_paths``) and, for most tasks, the
verdict itself (``TaskEntry.standing``), so the first decision after a change
is one scope check per task. ``static_verdict`` is the rule; the oracle test
(tests/unit/core/test_verdicts_oracle.py) holds the shortcut equal to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from leviathan_core.config import AutonomyConfig
from leviathan_core.scope import normalize_prefix

if TYPE_CHECKING:  # the parser calls standing_verdict, so no import back at run time
    from leviathan_core.backlog import Backlog, TaskEntry


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
    """One task's verdict: eligible, and every reason (code) and message against it."""

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
    # ``covers``' answer per distinct set of compared paths.
    _answers: dict[object, bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Normalised here, whoever builds the rules: the scope check's plain
        # ``startswith`` is boundary-safe only because every prefix ends in '/'.
        prefixes = tuple(normalize_prefix(p) for p in self.prefixes)
        object.__setattr__(self, "prefixes", prefixes)
        object.__setattr__(self, "folders", frozenset(p.rstrip("/") for p in prefixes))
        object.__setattr__(self, "_answers", {})

    def admits(self, path: str | None) -> bool:
        """Whether one compared path (None: unsafe) lies inside the allowed prefixes."""
        return path is not None and (
            path.startswith(self.prefixes) or path.rstrip("/") in self.folders
        )

    def covers(self, paths: tuple[str | None, ...]) -> bool:
        """Whether every compared path is admitted; remembered per distinct set of paths."""
        answer = self._answers.get(paths)
        if answer is None:
            answer = all(map(self.admits, paths))
            self._answers[paths] = answer
        return answer

    @classmethod
    def of(cls, config: AutonomyConfig) -> StaticRules:
        return cls(tuple(config.allowed_path_prefixes), config.allow_completed_dependencies)


def scope_problems(task: TaskEntry, rules: StaticRules) -> list[str]:
    """Why a task's allowed paths are out of scope (empty = in scope).

    Works on the paths normalised at parse time, so a check is one
    ``startswith`` per path.
    """
    problems: list[str] = []
    for raw, path in zip(task.allowed_paths, task.compared_paths, strict=True):
        if path is None:
            problems.append(f"{raw!r} is not a safe relative path")
        elif not rules.admits(path):
            problems.append(f"{raw!r} is outside {', '.join(rules.prefixes)}")
    return problems


def _open_dependencies(task: TaskEntry, statuses: Mapping[str, str | None]) -> list[str]:
    return [d for d in task.dependencies if statuses.get(d, "") != "completed"]


def static_verdict(
    task: TaskEntry, rules: StaticRules, statuses: Mapping[str, str | None]
) -> TaskVerdict:
    """The reasons that do not depend on this tick's facts (all but attempts and PRs).

    Every reason that applies is listed, so an operator sees all there is to fix.
    """
    if task.problem is not None or task.id is None:
        return TaskVerdict(task.name, False, (TaskReason.INVALID_TASK,), (task.problem or "",))
    reasons: list[str] = []
    messages: list[str] = []
    if not task.ready:
        reasons.append(TaskReason.NOT_READY)
        messages.append(task.ready_note or "ready is not true")
    if not task.is_pending:
        reasons.append(TaskReason.STATUS_NOT_PENDING)
        messages.append(f"status is {task.status!r}; only 'pending' (or no status) is picked")
    if task.dependencies and not rules.allow_completed_dependencies:
        reasons.append(TaskReason.HAS_DEPENDENCIES)
    elif task.dependencies and (still_open := _open_dependencies(task, statuses)):
        reasons.append(TaskReason.DEPENDENCIES_NOT_COMPLETED)
        messages.append(f"not completed (or unknown): {', '.join(still_open)}")
    if not task.compared_paths:
        reasons.append(TaskReason.NO_ALLOWED_PATHS)
    elif not rules.covers(task.compared_paths):
        reasons.append(TaskReason.PATH_OUT_OF_SCOPE)
        messages += scope_problems(task, rules)
    return TaskVerdict(task.id, not reasons, tuple(reasons), tuple(messages))


class _AdmittingEverySafePath(StaticRules):
    """Rules under which only the configuration-free reasons can apply."""

    def admits(self, path: str | None) -> bool:
        return path is not None


_NO_CONFIGURATION = _AdmittingEverySafePath((), allow_completed_dependencies=False)


def standing_verdict(task: TaskEntry) -> TaskVerdict | None:
    """The verdict ``task`` gets under every configuration that admits its paths.

    None when a configuration could say more (dependencies, whose reading
    depends on ``allow_completed_dependencies``). The parser works it out once
    per entry (``TaskEntry.standing``), with ``static_verdict`` itself, so the
    first decision after a change only checks the scope of most tasks.
    """
    if task.dependencies:
        return None
    return static_verdict(task, _NO_CONFIGURATION, {})


def _verdict(
    task: TaskEntry, rules: StaticRules, statuses: Mapping[str, str | None]
) -> TaskVerdict:
    """``static_verdict``, taking the parse-time answer where the configuration cannot change it."""
    if task.standing is not None and rules.covers(task.compared_paths):
        return task.standing
    return static_verdict(task, rules, statuses)


@dataclass(frozen=True, slots=True)
class StaticJudgement:
    verdicts: tuple[TaskVerdict, ...]
    eligible: tuple[int, ...]  # indexes of the statically eligible tasks, in file order


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
    verdicts = tuple(_verdict(task, rules, statuses) for task in tasks)
    eligible = tuple(index for index, verdict in enumerate(verdicts) if verdict.eligible)
    judgement = StaticJudgement(verdicts, eligible)
    backlog.memo[rules] = judgement
    return judgement
