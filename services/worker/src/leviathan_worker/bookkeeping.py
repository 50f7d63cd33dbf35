"""Leviathan's own writes in the target: the task's backlog entry and its proposal file.

They are the only writes allowed outside a task's allowed_paths, and only
while they lie inside the target's prefixes; the engines and the scope check
both take the list from here so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from leviathan_core.backlog import TaskEntry
from leviathan_core.constants import BACKLOG_PATH, PROPOSALS_DIR
from leviathan_core.scope import normalize_prefix, within_prefixes


class UnsafePath(ValueError):
    """A path in the checkout that resolves outside it (through a symlink)."""


def safe_file(checkout: Path, relative: str) -> Path:
    """``checkout / relative``, refusing a path that a symlink leads out of the checkout."""
    root = checkout.resolve()
    file = checkout / relative
    resolved = file.resolve()
    if file.is_symlink() or (resolved != root and root not in resolved.parents):
        raise UnsafePath(f"{relative} resolves outside the checkout or is a symlink")
    return file


def proposal_path(task_id: str) -> str:
    return f"{PROPOSALS_DIR}/{task_id}.md"


def bookkeeping_paths(task_id: str, prefixes: Sequence[str]) -> list[str]:
    """The bookkeeping paths that lie inside ``prefixes`` (the others may not be written)."""
    normalized = [normalize_prefix(p) for p in prefixes]
    candidates = [BACKLOG_PATH, proposal_path(task_id)]
    return [p for p in candidates if within_prefixes(p, normalized)]


def completion_fields(attempt_id: str, branch: str) -> dict[str, str | bool]:
    """What the task's entry says once its PR is open: done here, not ready again."""
    return {"status": "completed", "ready": False, "last_attempt_id": attempt_id, "branch": branch}


def _bullets(items: Sequence[str], empty: str) -> list[str]:
    return [f"- {item}" for item in items] if items else [f"- {empty}"]


def proposal_markdown(task: TaskEntry, attempt_id: str, branch: str) -> str:
    """The proposal document; deterministic so a retried attempt writes the same bytes."""
    lines = [
        f"# {task.title}",
        "",
        f"- Task: `{task.id}`",
        f"- Scope: {task.scope or '-'}",
        f"- Priority: {task.priority or '-'}",
        f"- Attempt: `{attempt_id}`",
        f"- Branch: `{branch}`",
        "",
        "## Allowed paths",
        "",
        *_bullets([f"`{p}`" for p in task.allowed_paths], "(none)"),
        "",
        "## Acceptance criteria",
        "",
        *_bullets(task.acceptance_criteria, "(none given)"),
        "",
    ]
    return "\n".join(lines)


def write_proposal(
    checkout: Path, task: TaskEntry, attempt_id: str, branch: str, prefixes: Sequence[str]
) -> bool:
    """Write ``.leviathan/proposals/<task>.md``; False when that path lies out of scope."""
    assert task.id is not None
    path = proposal_path(task.id)
    if path not in bookkeeping_paths(task.id, prefixes):
        return False
    file = safe_file(checkout, path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(proposal_markdown(task, attempt_id, branch), encoding="utf-8")
    return True
