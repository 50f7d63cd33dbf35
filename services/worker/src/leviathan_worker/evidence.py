"""The words that leave the worker: commit message, PR title and the PR's evidence body.

All deterministic functions of the attempt, so a retried attempt produces the
same commit (same tree, message, identity and dates) and the same PR text
(given the same gate output and engine report).

GitHub refuses a PR body over 65,536 characters with a 422, which would come
after the branch was pushed; the body is therefore built within a budget well
below that. Every free text is cut to one bounded line, and every list (the
criteria, the allowed paths, the changed files) shows what fits its share and
then says how many more there are; the commit holds the full list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from leviathan_core.backlog import TaskEntry
from leviathan_worker.engine_result import AgentReport, GateResult
from leviathan_worker.evidence_sections import gate_item, gate_section, report_section

COMMITTER_NAME = "Leviathan"
COMMITTER_EMAIL = "leviathan@noreply.invalid"
GITHUB_MAX_BODY = 65_536  # characters; GitHub answers 422 beyond it
BODY_BUDGET = 60_000  # UTF-16 code units, so no way of counting characters exceeds the limit
MAX_LINE = 1_000  # one free-text line (a title, a criterion, a path)
MAX_LISTED = 300  # items a reviewer can still read in one list
# Shares of BODY_BUDGET for the lists. The rest is for the fixed lines: seven
# free-text lines of at most MAX_LINE characters (2,000 code units each when
# every character is outside the BMP) and the headings, about 15,000 in all;
# and for the gate's and the engine's sections (evidence_sections: an output
# tail, a summary, a command and a status, about 14,000 at most).
CRITERIA_SHARE, ALLOWED_SHARE, FILES_SHARE = 10_000, 4_000, 14_000


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
    gate: GateResult | None = None  # None: the target has no verify_command
    report: AgentReport | None = None  # what a model-backed engine said it did


def commit_message(task: TaskEntry, task_id: str, attempt_id: str, engine: str) -> str:
    return (
        f"{pr_title(task, task_id)}\n\nTask: {task_id}\nAttempt: {attempt_id}\nEngine: {engine}\n"
    )


def pr_title(task: TaskEntry, task_id: str) -> str:
    title = " ".join(task.title.split()) or task_id
    return f"leviathan: {title} ({task_id})"[:240]


def _size(text: str) -> int:
    """Length in UTF-16 code units: never less than the characters GitHub counts."""
    return len(text.encode("utf-16-le")) // 2


def _quote(text: str, limit: int = MAX_LINE) -> str:
    """One line of at most ``limit`` characters (cut with an ellipsis)."""
    line = text.replace("\r", " ").replace("\n", " ")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _bounded(
    items: Sequence[str], render: Callable[[str], str], budget: int, more: Callable[[int], str]
) -> list[str]:
    """Rendered items while they fit ``budget`` and ``MAX_LISTED``, then ``more(left)``."""
    shown: list[str] = []
    used = 0
    for item in items[:MAX_LISTED]:
        line = render(_quote(item))
        used += _size(line) + 1
        if used > budget:
            break
        shown.append(line)
    left = len(items) - len(shown)
    return [*shown, more(left)] if left else shown


def pr_body(evidence: Evidence) -> str:
    """Markdown a reviewer can check the change against, below GitHub's body limit."""
    task = evidence.task
    criteria = _bounded(
        task.acceptance_criteria, lambda c: f"- [ ] {c}", CRITERIA_SHARE,
        lambda n: f"- … and {n} more (see `.leviathan/backlog.yaml`)",
    ) or ["- (none given)"]  # fmt: skip
    files = _bounded(
        evidence.changed_paths, lambda p: f"- `{p}`", FILES_SHARE,
        lambda n: f"- … and {n} more (see the commit)",
    ) or ["- (none)"]  # fmt: skip
    allowed = ", ".join(
        _bounded(task.allowed_paths, lambda p: f"`{p}`", ALLOWED_SHARE, lambda n: f"… and {n} more")
    ) or "(none)"  # fmt: skip
    lines = [
        f"Leviathan opened this pull request for task `{evidence.task_id}`.",
        "It is never merged automatically: review it like any other change.",
        "",
        "## Task",
        "",
        f"- **Title:** {_quote(task.title)}",
        f"- **Scope:** {_quote(task.scope or '-')}",
        f"- **Allowed paths:** {allowed}",
        "",
        "## Acceptance criteria",
        "",
        *criteria,
        gate_item(evidence.gate),
        "",
        *gate_section(evidence.gate),
        *report_section(evidence.report),
        "## Evidence",
        "",
        f"- **Attempt:** `{_quote(evidence.attempt_id)}`",
        f"- **Fence:** {evidence.fence}",
        f"- **Branch:** `{_quote(evidence.branch)}`",
        f"- **Engine:** {_quote(evidence.engine)}",
        f"- **Scope check:** {_quote(evidence.scope_result)}",
        f"- **Timeline:** {_quote(evidence.timeline_url)}",
        "",
        "## Changed files",
        "",
        *files,
        "",
    ]
    return "\n".join(lines)
