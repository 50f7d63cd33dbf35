"""The GitHub calls of the dashboard issue: find it by label, create it, edit it,
and ask what a user may do in the repository.

Built on a ``GitHubForge``, so the calls share its client, its retry policy
and its conditional-request cache: the label listing is a conditional GET,
and an idle tick (nothing changed on GitHub) is answered 304, which costs no
rate limit. Errors come back as the forge's own (``ForgeUnavailable``,
``ForgeRejected``), never as PyGithub's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Final
from urllib.parse import quote

from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.github import GitHubForge

# Permissions GitHub reports that allow pushing to the repository.
WRITE_PERMISSIONS: Final = frozenset({"admin", "maintain", "write"})


@dataclass(frozen=True)
class IssueInfo:
    number: int
    body: str
    state: str
    labels: tuple[str, ...]
    url: str


def issue_info(data: dict[str, Any]) -> IssueInfo:
    labels = tuple(
        str(label.get("name") if isinstance(label, dict) else label)
        for label in data.get("labels") or ()
    )
    return IssueInfo(
        number=int(data["number"]),
        body=str(data.get("body") or ""),
        state=str(data.get("state") or "open"),
        labels=labels,
        url=str(data.get("html_url") or data.get("url") or ""),
    )


class GitHubIssues:
    """Issue calls on the repository of ``forge``."""

    def __init__(self, forge: GitHubForge) -> None:
        self.forge = forge
        self._path = f"/repos/{forge.repo_full_name}"

    def find(self, label: str, marker: str, number: int | None = None) -> IssueInfo | None:
        """Issue ``number`` when it carries ``label``, else the oldest one (open or
        closed) with ``label`` whose body holds ``marker``."""
        action = f"listing issues labelled {label}"
        params = {"labels": label, "state": "all", "sort": "created", "direction": "asc"}
        try:
            items = self.forge._get_all(f"{self._path}/issues", params, action)
        except ForgeRejected as exc:
            raise ForgeUnavailable(str(exc)) from None
        found = [
            self.forge._call(action, partial(issue_info, item))
            for item in items
            if "pull_request" not in item  # GitHub lists pull requests among issues
        ]
        known = [info for info in found if info.number == number]
        return next(iter(known or [info for info in found if marker in info.body]), None)

    def get(self, number: int) -> IssueInfo:
        action = f"reading issue #{number}"
        _, data = self.forge._call(
            action, lambda: self.forge._get(f"{self._path}/issues/{number}", None)
        )
        return self.forge._call(action, lambda: issue_info(data))

    def create(self, title: str, body: str, label: str) -> IssueInfo:
        """Open the issue; GitHub creates ``label`` when the repository lacks it."""
        payload = {"title": title, "body": body, "labels": [label]}
        return self._write("POST", f"{self._path}/issues", payload, "creating the dashboard issue")

    def update(self, number: int, body: str, *, reopen: bool = False) -> IssueInfo:
        payload: dict[str, Any] = {"body": body}
        if reopen:
            payload["state"] = "open"
        url = f"{self._path}/issues/{number}"
        return self._write("PATCH", url, payload, f"editing issue #{number}")

    def permission(self, login: str) -> str:
        """``admin``, ``maintain``, ``write``, ``triage``, ``read`` or ``none`` for ``login``."""
        action = f"reading the permission of {login}"
        url = f"{self._path}/collaborators/{quote(login, safe='')}/permission"
        _, data = self.forge._call(action, lambda: self.forge._get(url, None))
        if not isinstance(data, dict):
            raise ForgeUnavailable(f"GitHub sent {type(data).__name__} while {action}")
        return str(data.get("role_name") or data.get("permission") or "none")

    def _write(self, verb: str, url: str, payload: dict[str, Any], action: str) -> IssueInfo:
        requester = self.forge._github.requester
        _, data = self.forge._call(
            action, lambda: requester.requestJsonAndCheck(verb, url, input=payload)
        )
        return self.forge._call(action, lambda: issue_info(data))
