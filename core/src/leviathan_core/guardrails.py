"""The selection rule: ``decide(config, backlog, facts) -> Decision``. Pure, no I/O.

Everything the scheduler, ``leviathan plan`` and the tests agree on lives
here, so "why did nothing happen" has exactly one answer. Cycle reasons are
checked in a fixed order and the first that applies is reported; every task
gets all of its own reasons so an operator sees everything to fix at once.

The order: disabled, paused, breaker_open, fact_unavailable:<source>,
token_budget_spent, max_open_prs, max_running_attempts, then backlog_invalid
and no_eligible_task. The token budget comes after the unreadable facts (its
count comes from the control plane, so an unreadable one is named as such)
and before the caps (a spent budget holds all day, a cap only until a slot
frees).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from leviathan_core import breaker, budgets, caps
from leviathan_core.backlog import Backlog, BacklogError, TaskEntry
from leviathan_core.config import AutonomyConfig
from leviathan_core.verdicts import StaticRules, TaskReason, TaskVerdict, judge_backlog


class CycleReason(StrEnum):
    DISABLED = "disabled"
    PAUSED = "paused"
    BREAKER_OPEN = "breaker_open"
    TOKEN_BUDGET_SPENT = "token_budget_spent"  # noqa: S105 - a reason code
    MAX_OPEN_PRS = "max_open_prs"
    MAX_RUNNING_ATTEMPTS = "max_running_attempts"
    BACKLOG_INVALID = "backlog_invalid"
    NO_ELIGIBLE_TASK = "no_eligible_task"


FACT_SOURCES = ("forge", "control_plane", "redis", "backlog")


def unavailable_reason(source: str) -> str:
    return f"fact_unavailable:{source}"


@dataclass(frozen=True)
class Facts:
    """What the world looks like this tick, gathered by the scheduler (or given to plan)."""

    paused: bool = False
    pause_reason: str | None = None
    # The control plane's count; whether it opens the breaker is ``breaker.is_open``.
    consecutive_failures: int = 0
    # Seconds since the newest failed attempt, read only while the breaker is open
    # and probes are configured (None: unknown, so no probe).
    last_failure_age_seconds: float | None = None
    open_pr_count: int = 0
    open_pr_task_ids: frozenset[str] = frozenset()
    running_count: int = 0
    running_task_ids: frozenset[str] = frozenset()
    attempts_per_task: Mapping[str, int] = field(default_factory=dict)
    # Model tokens the target spent this UTC day (the control plane's sum);
    # None: unknown, which fails closed only when a budget is configured.
    tokens_today: int | None = 0
    unavailable: tuple[str, ...] = ()
    unavailable_messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    action: str  # "dispatch" | "skip"
    reason: str | None
    task: TaskEntry | None = None
    attempt_number: int | None = None
    tasks: tuple[TaskVerdict, ...] = ()
    messages: tuple[str, ...] = ()
    breaker_tripped: bool = False
    breaker_probe: bool = False  # the breaker is open and this is its one probe attempt

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
            "breaker_probe": self.breaker_probe,
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


def _cycle_reason(config: AutonomyConfig, facts: Facts) -> tuple[str | None, list[str], bool, bool]:
    """The first cycle-level reason that applies, in the documented order.

    Also whether the breaker tripped and whether this cycle is its probe.
    """
    tripped = breaker.is_open(config, facts.consecutive_failures)
    if not config.autonomy_enabled:
        off = "autonomy_enabled is false in the configuration"
        return CycleReason.DISABLED, [off], tripped, False
    if facts.paused:
        reason = f"paused: {facts.pause_reason or 'no reason given'}"
        return CycleReason.PAUSED, [reason], tripped, False
    probe = False
    if tripped:
        age, running = facts.last_failure_age_seconds, facts.running_count
        if not breaker.probe_due(config, age, running):
            why = breaker.explain(config, facts.consecutive_failures, age, running)
            return CycleReason.BREAKER_OPEN, [why], tripped, False
        probe = True
    if facts.unavailable:
        first = unavailable_reason(facts.unavailable[0])
        return first, list(facts.unavailable_messages), tripped, False
    if message := budgets.budget_spent(config, facts.tokens_today):
        return CycleReason.TOKEN_BUDGET_SPENT, [message], tripped, False
    if message := caps.open_prs_full(config, facts.open_pr_count):
        return CycleReason.MAX_OPEN_PRS, [message], tripped, False
    if message := caps.running_full(config, facts.running_count):
        return CycleReason.MAX_RUNNING_ATTEMPTS, [message], tripped, False
    return None, [], tripped, probe


def decide(
    config: AutonomyConfig, backlog: Backlog | BacklogError | None, facts: Facts
) -> Decision:
    """Pick the first eligible task in file order, or say exactly why nothing runs.

    ``backlog`` is None only when it could not be read at all (then
    ``facts.unavailable`` names ``backlog``); a BacklogError is a file that was
    read but cannot be used.
    """
    reason, messages, tripped, probe = _cycle_reason(config, facts)
    verdicts: tuple[TaskVerdict, ...] = ()
    chosen: TaskEntry | None = None
    if isinstance(backlog, Backlog):
        judgement = judge_backlog(backlog, StaticRules.of(config))
        verdicts = judgement.verdicts
        touched = set(facts.open_pr_task_ids).union(facts.attempts_per_task, facts.running_task_ids)
        positions = backlog.positions
        changes = {
            positions[task_id]: with_facts(verdicts[positions[task_id]], task_id, config, facts)
            for task_id in touched
            if task_id in positions
        }
        if changes:
            patched = list(verdicts)
            for index, verdict in changes.items():
                patched[index] = verdict
            verdicts = tuple(patched)
        chosen = next((backlog.tasks[i] for i in judgement.eligible if verdicts[i].eligible), None)
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
    shown = ("breaker half-open: one probe attempt",) if probe else ()
    return Decision("dispatch", None, chosen, number, verdicts, shown, tripped, probe)
