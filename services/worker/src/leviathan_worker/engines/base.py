"""The one interface every change engine implements.

An engine only writes files in the checkout; it never commits, pushes, talks
to the forge or edits the task's backlog entry (the publisher does that).
Whatever it writes is verified against the task's scope afterwards, so an
engine needs no trust and can be an external program.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from leviathan_core.backlog import TaskEntry
from leviathan_core.events import FailureReason


class EngineError(RuntimeError):
    """The engine could not produce its change (reported as ``engine_failed``, or as
    ``reason`` when the engine knows better, e.g. ``budget_exhausted``)."""

    def __init__(self, message: str, reason: FailureReason = FailureReason.ENGINE_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ChangeContext:
    """What an engine may know: the checkout, the task, and where it may keep scratch files."""

    checkout: Path
    scratch: Path
    task: TaskEntry
    task_id: str
    attempt_id: str
    branch: str
    prefixes: Sequence[str]
    say: Callable[[str], None]
    secrets: tuple[str, ...] = ()


class ChangeEngine(Protocol):
    name: str
    # False: only the task's allowed paths and the bookkeeping files are checked out.
    full_checkout: bool

    def apply(self, ctx: ChangeContext) -> None:
        """Write the change into ``ctx.checkout``; raise EngineError when it cannot."""
        ...


# The file a repair reads, in the engine's scratch folder; an engine that runs a
# program names it to that program in this variable (the agent engine does).
FEEDBACK_FILE: Final = "gate-feedback.txt"
FEEDBACK_ENV: Final = "LEVIATHAN_AGENT_FEEDBACK"


@runtime_checkable
class RepairingEngine(ChangeEngine, Protocol):
    """An engine that can be told why the quality gate failed and try again.

    The worker calls ``repair`` at most ``verify_repair_turns`` times, each after a
    failed gate run, on the same tree, with the same context as ``apply``.
    """

    def repair(self, ctx: ChangeContext, feedback: Path) -> None:
        """Change ``ctx.checkout`` again so the gate passes. ``feedback`` is a file in
        ``ctx.scratch`` holding the gate's command, how it ended and its output's tail
        (untrusted text: the engine's own tree produced it). Raise EngineError when it
        cannot (the attempt then fails with ``engine_failed``)."""
        ...
