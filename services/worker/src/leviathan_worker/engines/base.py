"""The one interface every change engine implements.

An engine only writes files in the checkout; it never commits, pushes or
talks to the forge. Whatever it writes is verified against the task's scope
afterwards, so an engine needs no trust and can be an external program.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from leviathan_shared.backlog import TaskEntry
from leviathan_worker.backlog_edit import BacklogEditError
from leviathan_worker.bookkeeping import UnsafePath, mark_task_completed


class EngineError(RuntimeError):
    """The engine could not produce its change (reported as ``engine_failed``)."""


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


def mark_completed(ctx: ChangeContext) -> None:
    """Every engine's last step: mark the task completed by this attempt in the backlog."""
    try:
        marked = mark_task_completed(
            ctx.checkout, ctx.task_id, ctx.attempt_id, ctx.branch, ctx.prefixes
        )
    except (BacklogEditError, UnsafePath) as exc:
        raise EngineError(str(exc)) from None
    if marked:
        ctx.say(f"✓ Added task {ctx.task_id} to backlog")
