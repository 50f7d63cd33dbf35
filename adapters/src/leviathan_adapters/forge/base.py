"""The forge protocol: where pull requests live (GitHub, or a local store).

The scheduler only reads (open agent PRs), the worker creates a PR and reads
its file list, the reconciler reads PR state. Every implementation raises
``ForgeUnavailable`` when a fact cannot be read, never a library exception, so
callers can fail closed with ``fact_unavailable:forge``.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol

from pydantic import BaseModel

from leviathan_core.constants import BRANCH_PREFIX
from leviathan_core.pr_options import PullRequestOptions

PRState = Literal["open", "closed", "merged"]


class ForgeUnavailable(RuntimeError):
    """The forge could not answer (network, rate limit, 5xx, bad credentials)."""


class ForgeRejected(RuntimeError):
    """The forge answered but refused the request (e.g. 422 for a missing branch)."""


class PullRequestInfo(BaseModel):
    number: int
    url: str
    branch: str
    base: str
    title: str
    state: PRState = "open"
    task_id: str | None = None
    attempt_id: str | None = None


_ATTEMPT_IN_BRANCH = re.compile(r"^agent/[a-z0-9-]+?-(attempt-(.+)-[0-9a-f]{8})$")


def attempt_from_branch(branch: str) -> tuple[str | None, str | None]:
    """``agent/backlog-propose-attempt-<task>-<8 hex>`` -> (attempt_id, task_id)."""
    match = _ATTEMPT_IN_BRANCH.fullmatch(branch)
    if not match:
        return None, None
    return match.group(1), match.group(2)


def is_agent_branch(branch: str) -> bool:
    return branch.startswith(BRANCH_PREFIX)


class Forge(Protocol):
    def open_agent_prs(self) -> list[PullRequestInfo]:
        """Every open PR whose head branch starts with ``agent/``, across all pages."""
        ...

    def get_pull_request(self, number: int) -> PullRequestInfo:
        """One PR with its current state (open, closed or merged)."""
        ...

    def create_pull_request(
        self, *, branch: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequestInfo:
        """Open a PR (``draft``: as a draft); an existing open PR for the same branch is
        returned, not duplicated."""
        ...

    def pull_request_files(self, number: int) -> list[str]:
        """Paths the PR changes (for renames: both the old and the new path)."""
        ...

    def delete_branch(self, branch: str) -> bool:
        """Delete a pushed branch (after a PR cap hit); False when it did not exist."""
        ...

    def decorate_pull_request(self, number: int, options: PullRequestOptions) -> list[str]:
        """Add the target's labels and request its reviewers; what could not be done."""
        ...
