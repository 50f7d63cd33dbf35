"""What GitHub's REST answers look like: objects, errors, pagination, ETags.

Pure helpers for ``tests.support.github_fake``; kept apart so the fake itself
holds only state, switches and routes. Shapes follow GitHub's documented
answers closely enough for PyGithub, which follows the absolute ``url``
fields and ``Link`` headers it is given.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

FaultKind = Literal[
    "primary",
    "secondary",
    "abuse429",
    "limit429",
    "server_error",
    "bad_credentials",
    "malformed",
]
Access = Literal["none", "read", "write"]
DOCS = "https://docs.github.com/rest"
MAX_BODY = 65_536  # characters GitHub accepts in an issue or pull request body
MAX_TITLE = 256


@dataclass
class Recorded:
    """One request the fake answered; ``counted``: it cost rate limit."""

    method: str
    path: str
    query: dict[str, str]
    if_none_match: str | None
    status: int = 0
    counted: bool = False


@dataclass
class FakePull:
    number: int
    head: str
    base: str
    title: str
    body: str | None
    state: str = "open"
    merged: bool = False
    head_repo: str | None = None  # a fork's full name; None: the repository itself
    created: int = 0
    updated: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)


class GitHubError(Exception):
    """An answer other than the route's normal one: status, JSON body, extra headers.

    ``rate_limited``: a rate-limit refusal, which costs no rate limit itself.
    """

    def __init__(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        rate_limited: bool = False,
    ):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}
        self.rate_limited = rate_limited

    def response(self) -> Response:
        return Response(
            json.dumps(self.body), self.status, headers=self.headers, media_type="application/json"
        )


def validation_failed(error: dict[str, Any]) -> GitHubError:
    body = {
        "message": "Validation Failed",
        "errors": [error],
        "status": "422",
        "documentation_url": f"{DOCS}/pulls/pulls#create-a-pull-request",
    }
    return GitHubError(422, body)


def custom_error(message: str) -> GitHubError:
    return validation_failed({"resource": "PullRequest", "code": "custom", "message": message})


def too_long(field: str, value: Any, limit: int) -> GitHubError | None:
    """GitHub's 422 for an over-long PR title or body (it counts characters)."""
    if not isinstance(value, str) or len(value) <= limit:
        return None
    return validation_failed(
        {
            "resource": "Issue",
            "code": "custom",
            "field": field,
            "message": f"{field} is too long (maximum is {limit} characters)",
        }
    )


def not_found() -> GitHubError:
    return GitHubError(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})


def not_accessible(token_kind: str, permission: str) -> GitHubError:
    """GitHub's 403 when a fine-grained or app token lacks a permission on the repository."""
    body = {
        "message": f"Resource not accessible by {token_kind}",
        "documentation_url": DOCS,
        "status": "403",
    }
    return GitHubError(403, body, {"X-Accepted-GitHub-Permissions": permission})


def is_rate_refusal(error: GitHubError | None) -> bool:
    return error is not None and error.rate_limited


_RATE_TEXT = {
    "primary": "API rate limit exceeded for user ID 1.",
    "secondary": "You have exceeded a secondary rate limit. Please wait a few minutes "
    "before you try again.",
}


def fault_error(
    kind: FaultKind, status: int | None, retry_after: int, message: str | None = None
) -> GitHubError:
    """The answer GitHub gives for each injectable fault.

    Rate limits follow GitHub's documented signals: a primary limit is a 403 or
    429 with ``x-ratelimit-remaining: 0``; a secondary limit a 403 or 429 with
    ``retry-after`` (``abuse429``) or, without it, a 429 alone (``limit429``).
    ``message`` replaces GitHub's usual wording, which varies.
    """
    if kind in ("primary", "secondary", "abuse429", "limit429"):
        default = 429 if kind in ("abuse429", "limit429") else 403
        text = _RATE_TEXT["primary" if kind == "primary" else "secondary"]
        body = {"message": message or text, "documentation_url": f"{DOCS}/overview/rate-limits"}
        headers = {
            "primary": {"X-RateLimit-Remaining": "0"},
            "secondary": {"Retry-After": str(retry_after)},
            "abuse429": {"Retry-After": str(retry_after)},
            "limit429": {},
        }[kind]
        return GitHubError(status or default, body, headers, rate_limited=True)
    if kind == "malformed":
        return GitHubError(200, {"message": message or "under maintenance"})
    if kind == "bad_credentials":
        return GitHubError(
            401, {"message": message or "Bad credentials", "documentation_url": DOCS}
        )
    return GitHubError(status or 502, {"message": message or "Server Error"})


def rate_headers(limit: int, remaining: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(int(time.time()) + 3600),
        "X-RateLimit-Used": str(limit - remaining),
        "X-RateLimit-Resource": "core",
    }


def _stamp(tick: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + tick))


def repo_json(api: str, web: str, repo: str) -> dict[str, Any]:
    owner, name = repo.split("/")
    return {
        "id": zlib.crc32(repo.encode()),
        "name": name,
        "full_name": repo,
        "owner": {"login": owner, "id": 1, "type": "User", "url": f"{api}/users/{owner}"},
        "private": False,
        "html_url": f"{web}/{repo}",
        "default_branch": "main",
        "url": f"{api}/repos/{repo}",
    }


def pull_json(api: str, web: str, repo: str, pull: FakePull) -> dict[str, Any]:
    base_repo = repo_json(api, web, repo)
    head_repo = repo_json(api, web, pull.head_repo or repo)
    sha = hashlib.sha256(f"{repo}:{pull.head}".encode()).hexdigest()[:40]
    return {
        "url": f"{base_repo['url']}/pulls/{pull.number}",
        "id": pull.number * 7919,
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "draft": False,
        "title": pull.title,
        "body": pull.body,
        "user": base_repo["owner"],
        "html_url": f"{base_repo['html_url']}/pull/{pull.number}",
        "created_at": _stamp(pull.created),
        "updated_at": _stamp(pull.updated),
        "closed_at": _stamp(pull.updated) if pull.state == "closed" else None,
        "merged_at": _stamp(pull.updated) if pull.merged else None,
        "merged": pull.merged,
        "head": {
            "label": f"{head_repo['owner']['login']}:{pull.head}",
            "ref": pull.head,
            "sha": sha,
            "repo": head_repo,
            "user": head_repo["owner"],
        },
        "base": {
            "label": f"{base_repo['owner']['login']}:{pull.base}",
            "ref": pull.base,
            "sha": "0" * 40,
            "repo": base_repo,
            "user": base_repo["owner"],
        },
    }


def file_json(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "sha": "0" * 40,
        "additions": 1,
        "deletions": 0,
        "changes": 1,
        "patch": "@@ -0,0 +1 @@",
        **item,
    }


def answer(
    request: Request, data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """JSON answer; a GET 200 carries an ETag and a matching If-None-Match gets a 304."""
    body = json.dumps(data, sort_keys=True)
    if request.method == "GET" and status == 200:
        etag = f'W/"{hashlib.sha256(body.encode()).hexdigest()[:40]}"'
        wanted = [w.strip() for w in request.headers.get("if-none-match", "").split(",")]
        if etag in wanted:
            return Response(status_code=304, headers={"ETag": etag})
        headers = {**(headers or {}), "ETag": etag, "Cache-Control": "private, max-age=60"}
    return Response(body, status, headers=headers, media_type="application/json")


def page(request: Request, items: list[Any], render: Callable[[Any], Any]) -> Response:
    """One page of ``items`` with GitHub's ``Link`` header (first/prev/next/last)."""
    per_page = min(max(int(request.query_params.get("per_page", 30)), 1), 100)
    number = max(int(request.query_params.get("page", 1)), 1)
    last = max(1, -(-len(items) // per_page))
    links = []
    for rel, target in (("prev", number - 1), ("next", number + 1), ("last", last), ("first", 1)):
        if (rel in ("prev", "first") and number > 1) or (rel in ("next", "last") and number < last):
            url = request.url.include_query_params(page=target, per_page=per_page)
            links.append(f'<{url}>; rel="{rel}"')
    chunk = [render(item) for item in items[(number - 1) * per_page : number * per_page]]
    return answer(request, chunk, headers={"Link": ", ".join(links)} if links else None)
