"""The first phase: clone, re-check the task, and give the engine a tree of its own.

Token-holding. The clone goes to the publisher's private folder; the engine
gets a separate clone of the same commit (``clone.work_copy``) in the engine
folder, checked out whole or only where it may write. The task is read from
the cloned commit and judged again by the selection rules, because the
backlog may have changed since the scheduler picked it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from leviathan_adapters.git_auth import auth_failed, redact_url
from leviathan_core.backlog import Backlog, BacklogError, TaskEntry, parse_backlog
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import BACKLOG_PATH
from leviathan_core.events import FailureReason
from leviathan_core.scope import ScopeError, normalize_path
from leviathan_core.verdicts import StaticRules, static_verdict
from leviathan_worker.bookkeeping import bookkeeping_paths
from leviathan_worker.clone import Checkout, clone_target, populate, read_committed, work_copy
from leviathan_worker.failure import AttemptFailure
from leviathan_worker.gitops import GitFailed, open_repo
from leviathan_worker.layout import Layout


@dataclass(frozen=True, slots=True)
class Prepared:
    checkout: Checkout
    task: TaskEntry
    populated: list[str] | None  # None: the engine got the whole tree


def clone(
    config: AutonomyConfig, layout: Layout, token: SecretStr | None, say: Callable[[str], None]
) -> Checkout:
    say(f"Cloning {redact_url(config.target_repo_url)}...")
    try:
        checkout = clone_target(
            config.target_repo_url, config.target_branch, layout.publisher, token
        )
    except (GitFailed, OSError) as exc:
        message = str(exc)
        if token is not None and refused_access(message):
            message += "; check the token's access to the repository"
        raise AttemptFailure(FailureReason.CLONE_FAILED, message) from None
    say(f"✓ Cloned to {checkout.path}")
    return checkout


def refused_access(git_message: str) -> bool:
    """git's words when the server refused the token or hid the repository from it."""
    lowered = git_message.lower()
    return auth_failed(git_message) or "repository not found" in lowered or "404" in lowered


def reopen(layout: Layout, branch: str) -> Checkout:
    """The publisher's clone again, in a later phase (another process or container)."""
    repo = open_repo(layout.publisher)
    return Checkout(layout.publisher, repo, repo.head.commit.hexsha, branch)


def load_task(
    checkout: Checkout, config: AutonomyConfig, task_id: str, say: Callable[[str], None]
) -> TaskEntry:
    """The task as the cloned commit describes it; refused unless it is still eligible."""
    raw = read_committed(checkout, BACKLOG_PATH)
    if raw is None:
        raise AttemptFailure(
            FailureReason.TASK_NOT_FOUND, f"{BACKLOG_PATH} is missing on the target branch"
        )
    try:
        backlog = parse_backlog(raw, BACKLOG_PATH)
    except BacklogError as exc:
        raise AttemptFailure(FailureReason.TASK_NOT_FOUND, str(exc)) from None
    task = backlog.get(task_id)
    if task is None:
        raise AttemptFailure(
            FailureReason.TASK_NOT_FOUND,
            f"task {task_id!r} is not in {BACKLOG_PATH} (or is malformed)",
        )
    say(f"✓ Loaded task spec: {task_id}")
    say(f"  Title: {task.title}")
    check_eligible(task, backlog, config)
    return task


def check_eligible(task: TaskEntry, backlog: Backlog, config: AutonomyConfig) -> None:
    """The backlog may have changed since the task was selected: judge it again."""
    statuses = {t.id: t.status for t in backlog.tasks if t.id is not None}
    verdict = static_verdict(task, StaticRules.of(config), statuses)
    if verdict.eligible:
        return
    why = "; ".join(verdict.messages) or ", ".join(verdict.reasons)
    raise AttemptFailure(
        FailureReason.TASK_NOT_ELIGIBLE,
        f"task {task.id!r} is no longer eligible on {config.target_branch}: "
        f"{', '.join(verdict.reasons)} ({why})",
        reasons=list(verdict.reasons),
    )


def engine_paths(task: TaskEntry, prefixes: Sequence[str]) -> list[str]:
    """What a sparse engine may write: its allowed paths and the bookkeeping files."""
    assert task.id is not None
    own = bookkeeping_paths(task.id, prefixes)
    return [*own, *(normalize_path(p) for p in task.allowed_paths if _usable(p))]


def give_engine_a_tree(
    checkout: Checkout, task: TaskEntry, layout: Layout, full: bool, prefixes: Sequence[str]
) -> list[str] | None:
    """Copy the cloned commit into the engine folder; returns the populated paths."""
    paths = None if full else engine_paths(task, prefixes)
    try:
        populate(work_copy(checkout, layout.target), paths)
    except GitFailed as exc:
        raise AttemptFailure(FailureReason.CLONE_FAILED, str(exc)) from None
    layout.scratch.mkdir(parents=True, exist_ok=True)
    raw = read_committed(checkout, BACKLOG_PATH)
    if raw is not None:
        layout.task_source.write_bytes(raw)
    return paths


def _usable(path: str) -> bool:
    """Allowed paths that can be checked out; the scope check judges the rest anyway."""
    try:
        normalize_path(path)
    except ScopeError:
        return False
    return True


def task_from_source(source: Path, task_id: str) -> TaskEntry | None:
    """The engine phase's view of its task: the backlog the prepare phase copied."""
    try:
        return parse_backlog(source.read_bytes(), BACKLOG_PATH).get(task_id)
    except (OSError, BacklogError):
        return None
