"""Labels and review requests for ``tests.support.github_fake``, as GitHub answers them.

``GET|POST /repos/{o}/{r}/labels`` (a second label of the same name, in any
case, is a 422 ``already_exists``), ``POST /repos/{o}/{r}/issues/{n}/labels``
(a JSON array of names or ``{"labels": [...]}``; a name the repository lacks
is created with GitHub's default color, as GitHub does) and
``POST /repos/{o}/{r}/pulls/{n}/requested_reviewers`` (refused with GitHub's
422 for the PR's author and, once ``set_collaborators`` named them, for anyone
else). ``label_colors[repo][name]`` shows what was created.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response

from tests.support.github_shapes import (
    DOCS,
    GitHubError,
    answer,
    bad_request,
    label_json,
    page,
    pull_json,
    validation_failed,
)

if TYPE_CHECKING:
    from tests.support.github_fake import GitHubFake

DOCS_LABELS = f"{DOCS}/issues/labels#create-a-label"
DOCS_ADD_LABELS = f"{DOCS}/issues/labels#add-labels-to-an-issue"
DOCS_REVIEWERS = f"{DOCS}/pulls/review-requests#request-reviewers-for-a-pull-request"
_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")


def _json(raw: bytes, docs: str) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise bad_request("Problems parsing JSON", docs) from None


def _names(payload: Any) -> list[str] | None:
    items = payload.get("labels") if isinstance(payload, dict) else payload
    if not isinstance(items, list) or not items:
        return None
    names = [i if isinstance(i, str) else i.get("name") if isinstance(i, dict) else None
             for i in items]  # fmt: skip
    return [n for n in names if isinstance(n, str)] if all(names) else None


class HabitRoutes:
    """Label and reviewer routes of ``GitHubFake``."""

    @property
    def label_colors(self: GitHubFake) -> dict[str, dict[str, str]]:
        """repo -> label name -> color."""
        return self.__dict__.setdefault("_label_colors", {})  # type: ignore[no-any-return]

    @property
    def collaborators(self: GitHubFake) -> dict[str, set[str]]:
        """repo -> logins and team slugs that may review (absent: anyone may)."""
        return self.__dict__.setdefault("_collaborators", {})  # type: ignore[no-any-return]

    def add_label(self: GitHubFake, repo: str, name: str, color: str = "ededed") -> None:
        with self._lock:
            self.label_colors.setdefault(repo, {})[name] = color

    def set_collaborators(self: GitHubFake, repo: str, *names: str) -> None:
        with self._lock:
            self.collaborators[repo] = set(names)

    def _find_label(self: GitHubFake, repo: str, name: str) -> str | None:
        for known in self.label_colors.get(repo, {}):
            if known.lower() == name.lower():
                return known
        return None

    def _list_labels(self: GitHubFake, request: Request, o: str, r: str) -> Response:
        def run() -> Response:
            repo, api = self._repo(o, r), self._urls(request)[0]
            labels = sorted(self.label_colors.get(repo, {}).items())
            return page(request, labels, lambda item: label_json(api, repo, *item))

        return self._guard(run)

    async def _create_label(self: GitHubFake, request: Request, o: str, r: str) -> Response:
        raw = await request.body()

        def run() -> Response:
            repo = self._repo(o, r, write="issues=write")
            payload = _json(raw, DOCS_LABELS)
            name, color = (payload.get("name"), payload.get("color", "ededed")) if isinstance(
                payload, dict) else (None, None)  # fmt: skip
            if not isinstance(name, str) or not name:
                raise validation_failed({"resource": "Label", "field": "name",
                                         "code": "missing_field"}, DOCS_LABELS)  # fmt: skip
            if not isinstance(color, str) or not _COLOR.fullmatch(color):
                raise validation_failed({"resource": "Label", "field": "color",
                                         "code": "invalid"}, DOCS_LABELS)  # fmt: skip
            if self._find_label(repo, name) is not None:
                raise validation_failed({"resource": "Label", "field": "name",
                                         "code": "already_exists"}, DOCS_LABELS)  # fmt: skip
            self.label_colors.setdefault(repo, {})[name] = color.lower()
            api = self._urls(request)[0]
            return answer(request, label_json(api, repo, name, color.lower()), 201)

        return self._guard(run)

    async def _add_labels(self: GitHubFake, request: Request, o: str, r: str, n: int) -> Response:
        raw = await request.body()

        def run() -> Response:
            repo = self._repo(o, r, write="issues=write")
            pull = self._pull(repo, n)
            names = _names(_json(raw, DOCS_ADD_LABELS))
            if names is None:
                raise validation_failed({"resource": "Label", "field": "labels",
                                         "code": "invalid"}, DOCS_ADD_LABELS)  # fmt: skip
            for name in names:
                known = self._find_label(repo, name)
                if known is None:  # GitHub creates a label it does not know yet
                    self.label_colors.setdefault(repo, {})[name] = "ededed"
                    known = name
                if known not in pull.labels:
                    pull.labels.append(known)
            pull.updated = self._tick()
            colors, api = self.label_colors[repo], self._urls(request)[0]
            return answer(request, [label_json(api, repo, x, colors[x]) for x in pull.labels])

        return self._guard(run)

    async def _request_reviewers(
        self: GitHubFake, request: Request, o: str, r: str, n: int
    ) -> Response:
        raw = await request.body()

        def run() -> Response:
            repo = self._repo(o, r, write="pull_requests=write")
            pull = self._pull(repo, n)
            payload = _json(raw, DOCS_REVIEWERS)
            if not isinstance(payload, dict):
                raise bad_request("Body should be a JSON object", DOCS_REVIEWERS)
            users, teams = payload.get("reviewers") or [], payload.get("team_reviewers") or []
            if o in users:
                raise _unprocessable("Review cannot be requested from pull request author.")
            allowed = self.collaborators.get(repo)
            if allowed is not None and any(x not in allowed for x in [*users, *teams]):
                raise _unprocessable(
                    "Reviews may only be requested from collaborators. One or more of the users "
                    f"or teams you specified is not a collaborator of the {repo} repository."
                )
            pull.reviewers.extend(u for u in users if u not in pull.reviewers)
            pull.teams.extend(t for t in teams if t not in pull.teams)
            pull.updated = self._tick()
            data = pull_json(*self._urls(request), repo, pull, full=False)
            return answer(request, data, 201)

        return self._guard(run)


def _unprocessable(message: str) -> GitHubError:
    return GitHubError(
        422, {"message": message, "documentation_url": DOCS_REVIEWERS, "status": "422"}
    )
