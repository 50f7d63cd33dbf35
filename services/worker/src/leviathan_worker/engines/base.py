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
from typing import Protocol

from leviathan_core.backlog import TaskEntry


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
