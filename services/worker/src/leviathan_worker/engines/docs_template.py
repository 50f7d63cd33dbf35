"""Write a deterministic Markdown document for a docs task, plus the backlog entry.

Useful where a task is "write this page" and a human fills it in on the PR:
the document carries the title and the acceptance criteria as a checklist.
"""

from __future__ import annotations

from leviathan_core.backlog import TaskEntry
from leviathan_core.scope import ScopeError, normalize_path
from leviathan_worker.bookkeeping import UnsafePath, safe_file
from leviathan_worker.engines.base import ChangeContext, EngineError


def markdown_target(task: TaskEntry) -> str:
    """The task's single ``.md`` allowed path; EngineError when there is none or several."""
    candidates = [p for p in task.allowed_paths if p.lower().endswith(".md")]
    if len(candidates) != 1:
        found = ", ".join(candidates) or "none"
        raise EngineError(
            f"docs-template needs exactly one .md file in allowed_paths of task "
            f"{task.name!r}; found {found}"
        )
    try:
        return normalize_path(candidates[0])
    except ScopeError as exc:
        raise EngineError(f"task {task.name!r}: {exc}") from None


def render_document(task: TaskEntry) -> str:
    lines = [f"# {task.title.strip()}", ""]
    if task.scope:
        lines += [f"Scope: {task.scope}", ""]
    lines += ["## Acceptance criteria", ""]
    lines += [f"- [ ] {c}" for c in task.acceptance_criteria] or ["- [ ] (none given)"]
    lines += ["", f"<!-- leviathan task: {task.id} -->", ""]
    return "\n".join(lines)


class DocsTemplateEngine:
    name = "docs-template"
    full_checkout = False

    def apply(self, ctx: ChangeContext) -> None:
        path = markdown_target(ctx.task)
        try:
            file = safe_file(ctx.checkout, path)
        except UnsafePath as exc:
            raise EngineError(str(exc)) from None
        if file.exists() and not file.is_file():
            raise EngineError(f"{path} exists and is not a regular file")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(render_document(ctx.task), encoding="utf-8")
        ctx.say(f"✓ Wrote {path}")
