"""From the engine's work tree to the change the publisher commits, with its bookkeeping.

The engine's files are read as data (``changeset``). The task's backlog entry
is Leviathan's to edit, not the engine's: the publisher applies the completion
edit to the cloned backlog itself. An engine may leave the backlog untouched or
make exactly that edit (older engines do); any other backlog change is a scope
violation unless the task lists the backlog among its allowed paths. An engine
whose only change is that bookkeeping changed nothing (``no_changes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from leviathan_core.constants import BACKLOG_PATH
from leviathan_core.events import FailureReason
from leviathan_core.scope import ScopeError, normalize_path
from leviathan_worker.backlog_edit import BacklogEditError, set_task_fields
from leviathan_worker.bookkeeping import bookkeeping_paths, completion_fields
from leviathan_worker.changeset import (
    REGULAR,
    BaseEntry,
    FileChange,
    Limits,
    TooLarge,
    UnsafeTree,
    read_changes,
)
from leviathan_worker.failure import AttemptFailure


@dataclass(frozen=True, slots=True)
class Completion:
    """What the publisher writes into the task's backlog entry."""

    task_id: str
    attempt_id: str
    branch: str
    prefixes: Sequence[str]
    allowed_paths: Sequence[str]


def backlog_allowed(allowed_paths: Sequence[str]) -> bool:
    """Whether the task itself may edit the backlog (it is one of its allowed paths)."""
    for path in allowed_paths:
        try:
            if normalize_path(path) == BACKLOG_PATH:
                return True
        except ScopeError:
            continue
    return False


def completed_backlog(text: str, done: Completion) -> str:
    fields = completion_fields(done.attempt_id, done.branch)
    return set_task_fields(text, done.task_id, fields, BACKLOG_PATH)


def engine_changes(
    work: Path, base: dict[str, BaseEntry], populated: Sequence[str] | None, limits: Limits
) -> list[FileChange]:
    """The engine's changes as data; unsafe or oversized trees end the attempt."""
    try:
        return read_changes(work, base, populated, limits)
    except UnsafeTree as exc:
        raise AttemptFailure(FailureReason.SCOPE_VIOLATION, str(exc), paths=[exc.path]) from None
    except TooLarge as exc:
        raise AttemptFailure(FailureReason.CHANGE_TOO_LARGE, str(exc)) from None


def with_bookkeeping(
    changes: list[FileChange], cloned_backlog: bytes | None, done: Completion
) -> list[FileChange]:
    """The engine's changes plus the publisher's backlog edit; NO_CHANGES when nothing else."""
    engine_backlog = next((c for c in changes if c.path == BACKLOG_PATH), None)
    others = [c for c in changes if c.path != BACKLOG_PATH]
    if backlog_allowed(done.allowed_paths):
        if not changes:
            raise AttemptFailure(FailureReason.NO_CHANGES, "the change engine changed nothing")
        return changes
    if BACKLOG_PATH not in bookkeeping_paths(done.task_id, done.prefixes) or cloned_backlog is None:
        if not others:
            raise AttemptFailure(FailureReason.NO_CHANGES, "the change engine changed nothing")
        return changes  # a backlog edit here is judged (and refused) by the scope check
    try:
        edited = completed_backlog(cloned_backlog.decode("utf-8"), done).encode("utf-8")
    except (BacklogEditError, UnicodeDecodeError) as exc:
        raise AttemptFailure(FailureReason.TASK_NOT_FOUND, f"cannot mark the task: {exc}") from None
    if engine_backlog is not None and engine_backlog.data != edited:
        raise AttemptFailure(
            FailureReason.SCOPE_VIOLATION,
            f"{BACKLOG_PATH}: the change engine edited the backlog, which only Leviathan may do",
            paths=[BACKLOG_PATH],
        )
    if not others:
        raise AttemptFailure(
            FailureReason.NO_CHANGES, "the change engine changed nothing but the bookkeeping"
        )
    return sorted([*others, FileChange(BACKLOG_PATH, REGULAR, edited)], key=lambda c: c.path)
