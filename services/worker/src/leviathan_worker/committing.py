"""The publisher's half before the push: the engine's change as data, committed, verified.

Everything here runs in the publisher's own clone: the engine's tree is only
read (``collect``), the commit is built by plumbing (``pristine``), and the
scope check runs on that commit, the very object the push will carry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from leviathan_core.backlog import TaskEntry
from leviathan_core.constants import BACKLOG_PATH
from leviathan_core.events import FailureReason
from leviathan_worker import publish
from leviathan_worker.changeset import FileChange, Limits
from leviathan_worker.clone import Checkout, read_committed
from leviathan_worker.collect import Completion, backlog_allowed, engine_changes, with_bookkeeping
from leviathan_worker.failure import AttemptFailure
from leviathan_worker.gitops import GitFailed
from leviathan_worker.pristine import base_tree, build_tree
from leviathan_worker.verify import VerifyResult, verify_commit


@dataclass(frozen=True, slots=True)
class Attempt:
    """The facts every step of the publisher's half needs."""

    task_id: str
    attempt_id: str
    branch: str
    prefixes: Sequence[str]


def collect(
    checkout: Checkout,
    work: Path,
    task: TaskEntry,
    populated: Sequence[str] | None,
    attempt: Attempt,
    say: Callable[[str], None],
) -> list[FileChange]:
    """The engine's files as data, plus the publisher's own backlog edit."""
    done = Completion(
        task_id=attempt.task_id,
        attempt_id=attempt.attempt_id,
        branch=attempt.branch,
        prefixes=attempt.prefixes,
        allowed_paths=task.allowed_paths,
    )
    changes = engine_changes(work, base_tree(checkout), populated, Limits())
    say(f"✓ Read the engine's change: {len(changes)} path(s)")
    result = with_bookkeeping(changes, read_committed(checkout, BACKLOG_PATH), done)
    if not backlog_allowed(task.allowed_paths) and any(c.path == BACKLOG_PATH for c in result):
        say(
            f"✓ Marked task {attempt.task_id} completed in {BACKLOG_PATH} "
            "(status: completed, ready: false)"
        )
    return result


def commit(
    checkout: Checkout, changes: Sequence[FileChange], message: str, when: datetime, scratch: Path
) -> str:
    try:
        tree = build_tree(checkout, changes, scratch)
    except GitFailed as exc:
        # git refuses paths it could never check out (``..``, ``.git``): out of scope.
        raise AttemptFailure(FailureReason.SCOPE_VIOLATION, str(exc)) from None
    return publish.commit_change(checkout, tree, message, when)


def verify(
    checkout: Checkout,
    sha: str,
    task: TaskEntry,
    attempt: Attempt,
    outside: Sequence[str],
    say: Callable[[str], None],
) -> VerifyResult:
    """Scope, checked on the very commit that will be pushed."""
    result = verify_commit(
        checkout,
        sha,
        task_id=attempt.task_id,
        allowed_paths=task.allowed_paths,
        prefixes=attempt.prefixes,
        outside=outside,
    )
    if result.violations:
        raise AttemptFailure(
            FailureReason.SCOPE_VIOLATION,
            result.summary(),
            paths=[v.path for v in result.violations],
        )
    if not result.paths:
        raise AttemptFailure(FailureReason.NO_CHANGES, "the change engine changed nothing")
    say(f"✓ Scope check {result.summary()}")
    return result
