"""The PR a target's team expects: its body (template, link to the task, closing lines),
draft state, labels and reviewers, from the target file's ``pull_request:`` group.

The values are gathered here (the committed backlog, the repository URL) and
the text decided by ``leviathan_core.pr_options``. Labels and reviewers come
after the PR exists and its files were checked; a refusal there is printed
and recorded, never a failed attempt: the change itself is ready for review.
"""

from __future__ import annotations

from collections.abc import Callable

from leviathan_adapters.forge.base import Forge, ForgeRejected, ForgeUnavailable
from leviathan_core.backlog import TaskEntry
from leviathan_core.backlog_lines import task_line
from leviathan_core.constants import BACKLOG_PATH
from leviathan_core.pr_options import (
    PullRequestOptions,
    closing_lines,
    criteria_list,
    render_body,
    task_link,
)
from leviathan_worker.clone import Checkout


def committed_line(checkout: Checkout, sha: str, task_id: str) -> int | None:
    """The task's line in the backlog as the PR's commit has it (None: not found)."""
    try:
        blob = checkout.repo.commit(sha).tree / BACKLOG_PATH
    except (KeyError, ValueError):
        return None
    return task_line(blob.data_stream.read(), task_id)


def body_values(
    options: PullRequestOptions,
    task: TaskEntry,
    *,
    task_id: str,
    attempt_id: str,
    branch: str,
    summary: str,
    link: Callable[[], str | None],
) -> dict[str, str]:
    """What each placeholder stands for; the link only when ``link_task`` asks for it."""
    closes = "\n".join(closing_lines(task.issues)) if options.close_issues else ""
    return {
        "task_id": task_id,
        "title": task.title,
        "criteria": criteria_list(task.acceptance_criteria),
        "attempt_id": attempt_id,
        "branch": branch,
        "summary": summary,
        "task_link": (link() or "") if options.link_task else "",
        "closes": closes,
    }


def pr_body_for(
    options: PullRequestOptions,
    task: TaskEntry,
    *,
    checkout: Checkout,
    sha: str,
    repo_url: str,
    task_id: str,
    attempt_id: str,
    branch: str,
    summary: str,
) -> str:
    """The body to open the PR with; ``summary`` (Leviathan's own) unless options say more."""

    def link() -> str | None:
        return task_link(repo_url, sha, BACKLOG_PATH, committed_line(checkout, sha, task_id))

    values = body_values(options, task, task_id=task_id, attempt_id=attempt_id, branch=branch,
                         summary=summary, link=link)  # fmt: skip
    return render_body(options, values)


def decorate(
    forge: Forge, number: int, options: PullRequestOptions, say: Callable[[str], None]
) -> list[str]:
    """Labels and review requests on the open PR; the problems, each also printed."""
    if not options.decorates:
        return []
    try:
        problems = forge.decorate_pull_request(number, options)
    except (ForgeUnavailable, ForgeRejected) as exc:
        problems = [str(exc)]
    for problem in problems:
        say(f"! PR #{number}: {problem}")
    if not problems:
        if options.labels:
            say(f"✓ Labels: {', '.join(options.labels)}")
        asked = [*options.reviewers, *(f"team {t}" for t in options.team_reviewers)]
        if asked:
            say(f"✓ Reviews requested: {', '.join(asked)}")
    return problems
