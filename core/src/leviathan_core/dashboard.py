"""The dashboard issue: its body from a target's state, and the checkboxes ticked in it.

Pure text in, text out. The body holds nothing that changes from tick to tick
by itself (no time, no counter), so an idle target renders the same bytes and
the issue is written only when something a maintainer would want to see
changed. Task titles and pause reasons come from people and are escaped, so
a title cannot add links, mentions, HTML or a checkbox of its own.

A checkbox counts only when it is one of the lines Leviathan writes: inside
the actions section, ending in the hidden marker that names its action and
target. A box a user adds anywhere else, or a marker outside the section,
does nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from leviathan_core.reason_texts import CYCLE_REASONS, TASK_REASONS

TaskState = Literal["eligible", "skipped", "running", "pr_open", "done"]
STATE_WORDS: Final[dict[str, str]] = {
    "eligible": "eligible",
    "skipped": "skipped",
    "running": "running",
    "pr_open": "PR open",
    "done": "done",
}
MAX_BODY: Final = 65_536  # characters GitHub accepts in an issue body
TOO_MANY: Final = "{} more tasks are not shown: an issue body holds at most 65,536 characters."
ACTIONS_START: Final = "<!-- leviathan-actions:start -->"
ACTIONS_END: Final = "<!-- leviathan-actions:end -->"
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_BOX = re.compile(
    r"^\s*[-*] \[(?P<mark>[ xX])\] .*<!-- leviathan-action:(?P<action>[a-z-]+):"
    r"(?P<target>[a-z0-9-]+) -->\s*$"
)


class Action(StrEnum):
    """What a ticked box asks for."""

    RESUME = "resume"
    RESET_BREAKER = "reset-breaker"


@dataclass(frozen=True)
class TaskRow:
    """One backlog task as the dashboard shows it."""

    task_id: str
    title: str
    state: TaskState
    reasons: tuple[str, ...] = ()
    pr_url: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class DashboardView:
    """Everything the body shows; equal views render equal bodies."""

    target_id: str
    attempt_cap: int
    rows: tuple[TaskRow, ...]
    paused: bool = False
    pause_reason: str | None = None
    pause_by: str | None = None
    consecutive_failures: int = 0
    breaker_threshold: int = 1
    breaker_open: bool = False
    decision: str | None = None  # a cycle reason code; None: a task was dispatched
    dispatched_task: str | None = None
    backlog_problem: str | None = None


def marker(target_id: str) -> str:
    """The hidden line that says which target an issue is the dashboard of."""
    return f"<!-- leviathan-dashboard:{target_id} -->"


def title(target_id: str) -> str:
    return f"Leviathan dashboard: {target_id}"


def escape(text: str) -> str:
    """Plain text for a Markdown table cell or list item: no markup, HTML, mention or break."""
    flat = " ".join(text.split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _MARKDOWN.sub(r"\\\1", flat)
    return flat.replace("@", "&#64;")


def code(text: str) -> str:
    """A code span (shown as typed, so no escapes) that cannot end early or split a cell."""
    flat = " ".join(text.split()).replace("`", "'").replace("|", "\\|")
    return f"`{flat}`"


def digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _task_reason(code: str) -> str:
    words = TASK_REASONS.get(code, code).replace("|", "\\|")
    return f"{words} (`{code}`)"


def _cycle_reason(code: str) -> str:
    meaning = CYCLE_REASONS.get(code)
    return f"`{code}`: {meaning[0]}" if meaning else f"`{code}`"


def _state_cell(row: TaskRow) -> str:
    words = STATE_WORDS[row.state]
    if row.state == "pr_open" and row.pr_url:
        return f"[{words}]({row.pr_url})"
    if row.state == "skipped" and row.reasons:
        return f"{words}: " + "; ".join(_task_reason(code) for code in row.reasons)
    return words


def _task_table(view: DashboardView) -> list[str]:
    if view.backlog_problem is not None:
        return [f"The backlog cannot be read: {escape(view.backlog_problem)}"]
    if not view.rows:
        return ["The backlog has no tasks."]
    lines = ["| task | title | state | attempts |", "| --- | --- | --- | --- |"]
    for row in view.rows:
        cells = (
            code(row.task_id),
            escape(row.title) or "-",
            _state_cell(row),
            f"{row.attempts} of {view.attempt_cap}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _status(view: DashboardView) -> list[str]:
    if view.paused:
        by = f" by {escape(view.pause_by)}" if view.pause_by else ""
        reason = escape(view.pause_reason or "") or "no reason given"
        pause = f"- Paused{by}: {reason}"
    else:
        pause = "- Not paused"
    state = "open" if view.breaker_open else "closed"
    breaker = (
        f"- Breaker {state}: {view.consecutive_failures} consecutive failures "
        f"(opens at {view.breaker_threshold})"
    )
    if view.decision is None:
        last = f"- Last cycle: dispatched {code(view.dispatched_task or '?')}"
    else:
        last = f"- Last cycle: nothing dispatched, {_cycle_reason(view.decision)}"
    return [pause, breaker, last]


def _action_lines(view: DashboardView) -> list[str]:
    target = view.target_id
    lines = []
    if view.paused:
        lines.append(
            f"- [ ] Resume `{target}` <!-- leviathan-action:{Action.RESUME.value}:{target} -->"
        )
    if view.breaker_open:
        lines.append(
            f"- [ ] Reset the breaker of `{target}` "
            f"<!-- leviathan-action:{Action.RESET_BREAKER.value}:{target} -->"
        )
    if not lines:
        lines.append("Nothing to do: the target is not paused and its breaker is closed.")
    return lines


def _within(head: list[str], table: list[str]) -> list[str]:
    """The table cut so the body stays under GitHub's limit, saying how many rows are left out."""
    size = sum(len(line) + 1 for line in head) + len(TOO_MANY) + 20
    kept: list[str] = []
    for line in table:
        size += len(line) + 1
        if size > MAX_BODY:
            return [*kept, "", TOO_MANY.format(len(table) - len(kept))]
        kept.append(line)
    return kept


def render(view: DashboardView) -> str:
    """The issue body: status, actions (checkboxes), then one table row per task."""
    head = [
        marker(view.target_id),
        f"This issue shows what Leviathan sees for target `{view.target_id}`; it is "
        "rewritten when that changes.",
        "",
        "## Status",
        "",
        *_status(view),
        "",
        "## Actions",
        "",
        "Tick a box to act (write access to the repository is needed).",
        "",
        ACTIONS_START,
        *_action_lines(view),
        ACTIONS_END,
        "",
        "## Tasks",
        "",
    ]
    return "\n".join([*head, *_within(head, _task_table(view))]) + "\n"


def _section(body: str) -> list[str]:
    """The lines between the first actions start marker and the end marker after it."""
    start = body.find(ACTIONS_START)
    if start < 0:
        return []
    end = body.find(ACTIONS_END, start)
    if end < 0:
        return []
    return body[start + len(ACTIONS_START) : end].splitlines()


def boxes(body: str | None, target_id: str) -> dict[Action, bool]:
    """Leviathan's own boxes in ``body`` for ``target_id``: action -> ticked."""
    found: dict[Action, bool] = {}
    for line in _section(body or ""):
        match = _BOX.match(line)
        if match is None or match["target"] != target_id:
            continue
        try:
            action = Action(match["action"])
        except ValueError:
            continue
        found[action] = match["mark"] in "xX"
    return found


def newly_ticked(before: str | None, after: str | None, target_id: str) -> tuple[Action, ...]:
    """Actions ticked in ``after`` that were not ticked in ``before`` (None: unknown)."""
    was = boxes(before, target_id)
    now = boxes(after, target_id)
    return tuple(a for a in Action if now.get(a) and not was.get(a))
