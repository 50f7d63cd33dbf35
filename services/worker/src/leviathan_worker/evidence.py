"""The words that leave the worker: commit message, PR title and the PR's evidence body.

All deterministic functions of the attempt, so a retried attempt produces the
same commit (same tree, message, identity and dates) and the same PR text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leviathan_shared.backlog import TaskEntry

COMMITTER_NAME = "Leviathan"
COMMITTER_EMAIL = "leviathan@noreply.invalid"


@dataclass(frozen=True, slots=True)
class Evidence:
    task: TaskEntry
    task_id: str
    attempt_id: str
    fence: int
    branch: str
    engine: str
    changed_paths: Sequence[str]
    scope_result: str
    timeline_url: str


def commit_message(task: TaskEntry, task_id: str, attempt_id: str, engine: str) -> str:
    return (
        f"{pr_title(task, task_id)}\n\nTask: {task_id}\nAttempt: {attempt_id}\nEngine: {engine}\n"
    )


def pr_title(task: TaskEntry, task_id: str) -> str:
    title = " ".join(task.title.split()) or task_id
    return f"leviathan: {title} ({task_id})"[:240]


def _quote(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def pr_body(evidence: Evidence) -> str:
    """Markdown a reviewer can check the change against."""
    task = evidence.task
    criteria = [f"- [ ] {_quote(c)}" for c in task.acceptance_criteria] or ["- (none given)"]
    files = [f"- `{p}`" for p in evidence.changed_paths] or ["- (none)"]
    allowed = ", ".join(f"`{p}`" for p in task.allowed_paths) or "(none)"
    lines = [
        f"Leviathan opened this pull request for task `{evidence.task_id}`.",
        "It is never merged automatically: review it like any other change.",
        "",
        "## Task",
        "",
        f"- **Title:** {_quote(task.title)}",
        f"- **Scope:** {task.scope or '-'}",
        f"- **Allowed paths:** {allowed}",
        "",
        "## Acceptance criteria",
        "",
        *criteria,
        "",
        "## Evidence",
        "",
        f"- **Attempt:** `{evidence.attempt_id}`",
        f"- **Fence:** {evidence.fence}",
        f"- **Branch:** `{evidence.branch}`",
        f"- **Engine:** {evidence.engine}",
        f"- **Scope check:** {evidence.scope_result}",
        f"- **Timeline:** {evidence.timeline_url}",
        "",
        "## Changed files",
        "",
        *files,
        "",
    ]
    return "\n".join(lines)
