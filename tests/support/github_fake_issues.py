"""Issue and collaborator-permission routes of the GitHub fake (mixed into ``GitHubFake``).

- ``GET /repos/{o}/{r}/issues``: ``state`` (open, closed, all), ``labels`` (comma
  separated, every one must be on the issue), ``sort`` (created, updated),
  ``direction``, ``per_page``, ``page``; pull requests are listed too, with a
  ``pull_request`` key, as GitHub does. ETag and 304 as on every GET.
- ``POST /repos/{o}/{r}/issues``: ``title`` required (422 otherwise), a body
  over 65,536 characters is a 422; labels that do not exist yet are created.
- ``GET|PATCH /repos/{o}/{r}/issues/{n}``: ``body``, ``title``, ``state``
  (open or closed, else 422), ``labels``.
- ``GET /repos/{o}/{r}/collaborators/{username}/permission``: the role set with
  ``set_permission`` (admin, maintain, write, triage, read); ``permission`` is
  GitHub's older word for it (maintain reads write, triage reads read); an
  unknown user is a 404.

Writes need the token's write access (``set_access``), as for pull requests.
``edit_issue_body`` stands for a person editing the issue on github.com.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response

from tests.support.github_shapes import (
    DOCS,
    MAX_BODY,
    FakePull,
    GitHubError,
    _node_id,
    _stamp,
    answer,
    not_found,
    page,
    parse_body,
    repo_json,
    too_long,
    user_json,
    validation_failed,
)

DOCS_CREATE_ISSUE = f"{DOCS}/issues/issues#create-an-issue"
DOCS_UPDATE_ISSUE = f"{DOCS}/issues/issues#update-an-issue"
ROLES = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}


@dataclass
class FakeIssue:
    number: int
    title: str
    body: str | None
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    created: int = 0
    updated: int = 0


def _label_json(api: str, repo: str, name: str) -> dict[str, Any]:
    number = zlib.crc32(f"{repo}:{name}".encode()) & 0x7FFFFFFF
    return {
        "id": number,
        "node_id": _node_id("Label", number),
        "url": f"{api}/repos/{repo}/labels/{name}",
        "name": name,
        "color": "ededed",
        "default": False,
        "description": None,
    }


def issue_json(api: str, web: str, repo: str, issue: FakeIssue | FakePull) -> dict[str, Any]:
    """An ``issue``; a pull request as the issues API shows it (with ``pull_request``)."""
    owner = repo_json(api, web, repo, full=False)["owner"]
    url, html = f"{api}/repos/{repo}/issues/{issue.number}", f"{web}/{repo}/issues/{issue.number}"
    closed = issue.state == "closed"
    labels = issue.labels if isinstance(issue, FakeIssue) else []
    data: dict[str, Any] = {
        "id": issue.number * 104_729,
        "node_id": _node_id("Issue", issue.number),
        "url": url,
        "repository_url": f"{api}/repos/{repo}",
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": html,
        "number": issue.number,
        "state": issue.state,
        "title": issue.title,
        "body": issue.body,
        "user": owner,
        "labels": [_label_json(api, repo, name) for name in labels],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": 0,
        "closed_at": _stamp(issue.updated) if closed else None,
        "created_at": _stamp(issue.created),
        "updated_at": _stamp(issue.updated),
        "author_association": "OWNER",
    }
    if isinstance(issue, FakePull):
        pull = f"{api}/repos/{repo}/pulls/{issue.number}"
        data["pull_request"] = {
            "url": pull,
            "html_url": f"{web}/{repo}/pull/{issue.number}",
            "diff_url": f"{web}/{repo}/pull/{issue.number}.diff",
            "patch_url": f"{web}/{repo}/pull/{issue.number}.patch",
        }
    return data


def _check_issue_fields(payload: dict[str, Any], docs: str, *, create: bool) -> None:
    """GitHub's 422s for the fields the fake uses."""
    title = payload.get("title")
    if create and title is None:
        raise validation_failed({"resource": "Issue", "field": "title", "code": "missing_field"})
    if title is not None and not isinstance(title, str | int):
        raise validation_failed({"resource": "Issue", "field": "title", "code": "invalid"})
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        raise validation_failed({"resource": "Issue", "field": "body", "code": "invalid"})
    if "state" in payload and payload["state"] not in ("open", "closed"):
        raise validation_failed({"resource": "Issue", "field": "state", "code": "invalid"})
    labels = payload.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str | dict) for x in labels):
        raise validation_failed({"resource": "Issue", "field": "labels", "code": "invalid"})
    error = too_long("body", body, MAX_BODY, docs)
    if error is not None:
        raise error


def _label_names(payload: dict[str, Any]) -> list[str]:
    return [str(x.get("name") if isinstance(x, dict) else x) for x in payload.get("labels", [])]


class IssueRoutes:
    """Mixed into ``GitHubFake``: its lock, repositories, guard and URL helpers serve these."""

    ISSUE_ROUTES = (
        ("GET", "/repos/{o}/{r}/issues", "_list_issues"),
        ("POST", "/repos/{o}/{r}/issues", "_create_issue"),
        ("GET", "/repos/{o}/{r}/issues/{n}", "_get_issue"),
        ("PATCH", "/repos/{o}/{r}/issues/{n}", "_patch_issue"),
        ("GET", "/repos/{o}/{r}/collaborators/{username}/permission", "_permission"),
    )
    # Provided by GitHubFake.
    _lock: threading.RLock
    pulls: dict[str, list[FakePull]]
    _repo: Callable[..., str]
    _guard: Callable[[Callable[[], Response]], Response]
    _urls: Callable[[Request], tuple[str, str]]
    _tick: Callable[[], int]

    def _issue_state(self) -> tuple[dict[str, list[FakeIssue]], dict[str, set[str]]]:
        if not hasattr(self, "_issues"):
            self._issues: dict[str, list[FakeIssue]] = {}
            self.repo_labels: dict[str, set[str]] = {}
            self.permissions: dict[tuple[str, str], str] = {}
        return self._issues, self.repo_labels

    # ---- fixtures -------------------------------------------------------------
    def issues(self, repo: str) -> list[FakeIssue]:
        with self._lock:
            return list(self._issue_state()[0].get(repo, []))

    def set_permission(self, repo: str, login: str, role: str) -> None:
        """``login``'s role in ``repo``: admin, maintain, write, triage or read."""
        assert role in ROLES, role
        with self._lock:
            self._issue_state()
            self.permissions[(repo, login)] = role

    def edit_issue_body(self, repo: str, number: int, body: str) -> None:
        """What a person editing the issue on github.com does (no API request)."""
        with self._lock:
            issue = self._issue(repo, number)
            issue.body, issue.updated = body, self._tick()

    # ---- plumbing ---------------------------------------------------------------
    def _issue(self, repo: str, number: int) -> FakeIssue:
        for issue in self._issue_state()[0].get(repo, []):
            if issue.number == number:
                return issue
        raise not_found()

    def _next_number(self, repo: str) -> int:
        """Issues and pull requests share one sequence of numbers on GitHub."""
        taken = [p.number for p in self.pulls.get(repo, [])]
        taken += [i.number for i in self._issue_state()[0].get(repo, [])]
        return max(taken, default=0) + 1

    # ---- routes -------------------------------------------------------------------
    def _list_issues(self, request: Request, o: str, r: str) -> Response:
        def run() -> Response:
            repo, q = self._repo(o, r), request.query_params
            state = q.get("state", "open")
            wanted = {x.strip() for x in q.get("labels", "").split(",") if x.strip()}
            items: list[FakeIssue | FakePull] = [*self._issue_state()[0].get(repo, [])]
            items += self.pulls.get(repo, [])
            chosen = [
                i
                for i in items
                if state in ("all", "closed" if i.state == "closed" else "open")
                and wanted <= set(i.labels if isinstance(i, FakeIssue) else [])
            ]
            sort = q.get("sort", "created")
            chosen.sort(
                key=lambda i: (i.updated if sort == "updated" else i.created, i.number),
                reverse=q.get("direction", "desc") == "desc",
            )
            api, web = self._urls(request)
            return page(request, chosen, lambda i: issue_json(api, web, repo, i))

        return self._guard(run)

    async def _create_issue(self, request: Request, o: str, r: str) -> Response:
        raw = await request.body()

        def run() -> Response:
            repo = self._repo(o, r, write="issues=write")
            payload = parse_body(raw, DOCS_CREATE_ISSUE)
            _check_issue_fields(payload, DOCS_CREATE_ISSUE, create=True)
            issues, labels = self._issue_state()
            names = _label_names(payload)
            labels.setdefault(repo, set()).update(names)  # GitHub creates missing labels
            issue = FakeIssue(
                number=self._next_number(repo),
                title=str(payload["title"]),
                body=payload.get("body"),
                labels=names,
                created=self._tick(),
            )
            issue.updated = issue.created
            issues.setdefault(repo, []).append(issue)
            data = issue_json(*self._urls(request), repo, issue)
            return answer(request, data, 201, {"Location": data["url"]})

        return self._guard(run)

    def _get_issue(self, request: Request, o: str, r: str, n: int) -> Response:
        def run() -> Response:
            repo = self._repo(o, r)
            pull = next((p for p in self.pulls.get(repo, []) if p.number == n), None)
            item = pull if pull is not None else self._issue(repo, n)
            return answer(request, issue_json(*self._urls(request), repo, item))

        return self._guard(run)

    async def _patch_issue(self, request: Request, o: str, r: str, n: int) -> Response:
        raw = await request.body()

        def run() -> Response:
            repo = self._repo(o, r, write="issues=write")
            issue = self._issue(repo, n)
            payload = parse_body(raw, DOCS_UPDATE_ISSUE)
            _check_issue_fields(payload, DOCS_UPDATE_ISSUE, create=False)
            if "labels" in payload:
                issue.labels = _label_names(payload)
                self._issue_state()[1].setdefault(repo, set()).update(issue.labels)
            issue.title = str(payload.get("title", issue.title))
            issue.body = payload.get("body", issue.body)
            issue.state = payload.get("state", issue.state)
            issue.updated = self._tick()
            return answer(request, issue_json(*self._urls(request), repo, issue))

        return self._guard(run)

    def _permission(self, request: Request, o: str, r: str, username: str) -> Response:
        def run() -> Response:
            repo = self._repo(o, r)
            self._issue_state()
            role = self.permissions.get((repo, username))
            if role is None:
                raise not_found()
            api, web = self._urls(request)
            user = user_json(api, web, username) | {"role_name": role}
            data = {"permission": ROLES[role], "role_name": role, "user": user}
            return answer(request, data)

        return self._guard(run)


__all__ = ["FakeIssue", "GitHubError", "IssueRoutes", "issue_json"]
