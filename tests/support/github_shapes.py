"""What GitHub's REST answers look like: objects, errors, pagination, ETags.

Pure helpers for ``tests.support.github_fake``; kept apart so the fake itself
holds only state, switches and routes. Shapes follow GitHub's documented
answers closely enough for PyGithub, which follows the absolute ``url``
fields and ``Link`` headers it is given.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

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
    checked: str = ""  # what a strict fake held the answer to (see github_schema)


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
    draft: bool = False
    labels: list[str] = field(default_factory=list)  # names of the repository's labels
    reviewers: list[str] = field(default_factory=list)  # logins asked for a review
    teams: list[str] = field(default_factory=list)  # team slugs asked for a review


class GitHubError(Exception):
    """An answer other than the route's normal one: status, JSON body, extra headers.

    ``rate_limited``: a rate-limit refusal, which costs no rate limit itself.
    ``malformed``: wrong on purpose (the ``malformed`` fault), so never schema-checked.
    """

    def __init__(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        rate_limited: bool = False,
        malformed: bool = False,
    ):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}
        self.rate_limited, self.malformed = rate_limited, malformed

    def response(self) -> Response:
        return Response(
            json.dumps(self.body), self.status, headers=self.headers, media_type="application/json"
        )


DOCS_CREATE_PULL = f"{DOCS}/pulls/pulls#create-a-pull-request"
DOCS_UPDATE_PULL = f"{DOCS}/pulls/pulls#update-a-pull-request"
DOCS_DELETE_REF = f"{DOCS}/git/refs#delete-a-reference"

# What GitHub's description says of the two request bodies the fake accepts
# (``tests/fixtures/github-openapi/subset.json``; a test holds these to it): the
# fields that must be there, each field's JSON type, and enumerated values.
# GitHub also requires ``title`` on create unless ``issue`` names an issue to convert.
REQUEST_RULES: dict[str, dict[str, Any]] = {
    "pulls/create": {
        "required": ("head", "base"),
        "types": {
            "title": "string",
            "head": "string",
            "head_repo": "string",
            "base": "string",
            "body": "string",
            "maintainer_can_modify": "boolean",
            "draft": "boolean",
            "issue": "integer",
        },
        "enums": {},
    },
    "pulls/update": {
        "required": (),
        "types": {
            "title": "string",
            "body": "string",
            "state": "string",
            "base": "string",
            "maintainer_can_modify": "boolean",
        },
        "enums": {"state": ("open", "closed")},
    },
}
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
}


def validation_failed(
    error: dict[str, Any] | list[dict[str, Any]],
    docs: str = DOCS_CREATE_PULL,
    message: str = "Validation Failed",
) -> GitHubError:
    """GitHub's 422: ``message``, ``errors`` (resource, field, code), ``documentation_url``."""
    body = {
        "message": message,
        "errors": error if isinstance(error, list) else [error],
        "status": "422",
        "documentation_url": docs,
    }
    return GitHubError(422, body)


def custom_error(message: str, docs: str = DOCS_CREATE_PULL) -> GitHubError:
    return validation_failed(
        {"resource": "PullRequest", "code": "custom", "message": message}, docs
    )


def too_long(
    field: str, value: Any, limit: int, docs: str = DOCS_CREATE_PULL
) -> GitHubError | None:
    """GitHub's 422 for an over-long PR title or body (it counts characters)."""
    if not isinstance(value, str) or len(value) <= limit:
        return None
    return validation_failed(
        {
            "resource": "Issue",
            "code": "custom",
            "field": field,
            "message": f"{field} is too long (maximum is {limit} characters)",
        },
        docs,
    )


def bad_request(message: str, docs: str) -> GitHubError:
    """GitHub's 400: "Problems parsing JSON", or "Body should be a JSON object"."""
    return GitHubError(400, {"message": message, "documentation_url": docs, "status": "400"})


def parse_body(raw: bytes, docs: str) -> dict[str, Any]:
    """A request's JSON object, or GitHub's 400 for invalid JSON or another JSON type."""
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise bad_request("Problems parsing JSON", docs) from None
    if not isinstance(data, dict):
        raise bad_request("Body should be a JSON object", docs)
    return data


def check_request(operation: str, payload: dict[str, Any], docs: str) -> None:
    """GitHub's 422 for a body its description refuses: a missing field, a wrong type,
    a value outside an enum (``state: merged`` on a pull request is one)."""
    rules = REQUEST_RULES[operation]
    missing = [name for name in rules["required"] if name not in payload]
    if missing:
        errors = [{"resource": "PullRequest", "field": n, "code": "missing_field"} for n in missing]
        raise validation_failed(errors, docs)
    for name, value in payload.items():
        kind = rules["types"].get(name)
        wrong_type = kind is not None and (
            not isinstance(value, _JSON_TYPES[kind])
            or (kind == "integer" and isinstance(value, bool))
        )
        allowed = rules["enums"].get(name)
        if wrong_type or (allowed is not None and value not in allowed):
            shown = json.dumps(value)
            detail = (
                f"{shown} is not a {kind}."
                if wrong_type
                else f"{shown} is not a member of {json.dumps(list(allowed or ()))}."
            )
            raise validation_failed(
                {"resource": "PullRequest", "field": name, "code": "invalid"},
                docs,
                f"Invalid request.\n\nFor 'properties/{name}', {detail}",
            )
    if operation == "pulls/create" and "issue" not in payload and not payload.get("title"):
        raise validation_failed(
            {"resource": "Issue", "field": "title", "code": "missing_field"}, docs
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
        return GitHubError(200, {"message": message or "under maintenance"}, malformed=True)
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


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def user_json(api: str, web: str, login: str) -> dict[str, Any]:
    """A ``simple-user``: the owner of a repository, the author of a pull request."""
    url, uid = f"{api}/users/{login}", zlib.crc32(login.encode()) & 0x7FFFFFFF
    return {
        "login": login,
        "id": uid,
        "node_id": _node_id("User", uid),
        "avatar_url": f"{web}/avatars/{login}",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{web}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": "User",
        "site_admin": False,
    }


_REPO_LINKS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repo_json(api: str, web: str, repo: str, *, full: bool = True) -> dict[str, Any]:
    """A ``full-repository`` (GET a repository), or with ``full=False`` the
    ``repository`` a pull request's head and base carry."""
    owner, name = repo.split("/")
    url, host = f"{api}/repos/{repo}", web.split("://", 1)[-1]
    rid = zlib.crc32(repo.encode()) & 0x7FFFFFFF
    data: dict[str, Any] = {
        "id": rid,
        "node_id": _node_id("Repository", rid),
        "name": name,
        "full_name": repo,
        "owner": user_json(api, web, owner),
        "private": False,
        "html_url": f"{web}/{repo}",
        "description": None,
        "fork": False,
        "url": url,
        **{key: url + tail for key, tail in _REPO_LINKS.items()},
        "git_url": f"git://{host}/{repo}.git",
        "ssh_url": f"git@{host}:{repo}.git",
        "clone_url": f"{web}/{repo}.git",
        "svn_url": f"{web}/{repo}",
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "forks_count": 0,
        "forks": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 0,
        "default_branch": "main",
        "open_issues_count": 0,
        "open_issues": 0,
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": True,
        "has_wiki": True,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "public",
        "license": None,
        "allow_forking": True,
        "web_commit_signoff_required": False,
        "pushed_at": _stamp(0),
        "created_at": _stamp(0),
        "updated_at": _stamp(0),
    }
    if full:
        data.update(network_count=0, subscribers_count=0)
    return data


def pull_json(
    api: str, web: str, repo: str, pull: FakePull, *, full: bool = True
) -> dict[str, Any]:
    """A ``pull-request`` (GET, POST, PATCH one), or with ``full=False`` the
    ``pull-request-simple`` of a list, which lacks the merge and size fields."""
    base_repo = repo_json(api, web, repo, full=False)
    head_repo = repo_json(api, web, pull.head_repo or repo, full=False)
    owner = base_repo["owner"]
    sha = hashlib.sha256(f"{repo}:{pull.head}".encode()).hexdigest()[:40]
    url, html = (
        f"{base_repo['url']}/pulls/{pull.number}",
        f"{base_repo['html_url']}/pull/{pull.number}",
    )
    issue = f"{base_repo['url']}/issues/{pull.number}"
    closed = pull.state == "closed" or pull.merged
    data: dict[str, Any] = {
        "url": url,
        "id": pull.number * 7919,
        "node_id": _node_id("PullRequest", pull.number * 7919),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{base_repo['url']}/pulls/comments{{/number}}",
        "comments_url": f"{issue}/comments",
        "statuses_url": f"{base_repo['url']}/statuses/{sha}",
        "number": pull.number,
        "state": "closed" if closed else "open",
        "locked": False,
        "title": pull.title,
        "user": owner,
        "body": pull.body,
        "labels": [label_json(api, repo, name) for name in pull.labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": _stamp(pull.created),
        "updated_at": _stamp(pull.updated),
        "closed_at": _stamp(pull.updated) if closed else None,
        "merged_at": _stamp(pull.updated) if pull.merged else None,
        "merge_commit_sha": sha[::-1] if pull.merged else None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [user_json(api, web, login) for login in pull.reviewers],
        "requested_teams": [team_json(api, web, owner["login"], slug) for slug in pull.teams],
        "head": {
            "label": f"{head_repo['owner']['login']}:{pull.head}",
            "ref": pull.head,
            "sha": sha,
            "repo": head_repo,
            "user": head_repo["owner"],
        },
        "base": {
            "label": f"{owner['login']}:{pull.base}",
            "ref": pull.base,
            "sha": "0" * 40,
            "repo": base_repo,
            "user": owner,
        },
        "_links": {
            name: {"href": href}
            for name, href in (
                ("self", url),
                ("html", html),
                ("issue", issue),
                ("comments", f"{issue}/comments"),
                ("review_comments", f"{url}/comments"),
                ("review_comment", f"{base_repo['url']}/pulls/comments{{/number}}"),
                ("commits", f"{url}/commits"),
                ("statuses", f"{base_repo['url']}/statuses/{sha}"),
            )
        },
        "author_association": "OWNER",
        "auto_merge": None,
        "draft": pull.draft,
    }
    if full:
        data.update(
            merged=pull.merged,
            mergeable=None if closed else True,
            rebaseable=None if closed else True,
            mergeable_state="unknown" if closed else "clean",
            merged_by=owner if pull.merged else None,
            comments=0,
            review_comments=0,
            maintainer_can_modify=False,
            commits=1,
            additions=sum(int(f.get("additions", 1)) for f in pull.files),
            deletions=sum(int(f.get("deletions", 0)) for f in pull.files),
            changed_files=len(pull.files),
        )
    return data


def file_json(api: str, web: str, repo: str, item: dict[str, Any]) -> dict[str, Any]:
    """A ``diff-entry``: one file a pull request changes (``item``: filename, status, …)."""
    sha = hashlib.sha1(f"{repo}:{item['filename']}".encode()).hexdigest()
    path = quote(str(item["filename"]))
    return {
        "sha": sha,
        "additions": 1,
        "deletions": 0,
        "changes": 1,
        "blob_url": f"{web}/{repo}/blob/{sha}/{path}",
        "raw_url": f"{web}/{repo}/raw/{sha}/{path}",
        "contents_url": f"{api}/repos/{repo}/contents/{path}?ref={sha}",
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
    per_page = min(max(_number(request, "per_page", 30), 1), 100)
    number = max(_number(request, "page", 1), 1)
    last = max(1, -(-len(items) // per_page))
    links = []
    for rel, target in (("prev", number - 1), ("next", number + 1), ("last", last), ("first", 1)):
        if (rel in ("prev", "first") and number > 1) or (rel in ("next", "last") and number < last):
            url = request.url.include_query_params(page=target, per_page=per_page)
            links.append(f'<{url}>; rel="{rel}"')
    chunk = [render(item) for item in items[(number - 1) * per_page : number * per_page]]
    return answer(request, chunk, headers={"Link": ", ".join(links)} if links else None)


def _number(request: Request, name: str, default: int) -> int:
    """A numeric query parameter; GitHub ignores one that is not a number."""
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() else default


CONTENTS_INLINE_MAX = 1024 * 1024


def blob_sha(data: bytes) -> str:
    """Git's object id of a blob, which GitHub reports as a file's ``sha``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def content_json(api: str, web: str, repo: str, ref: str, path: str, data: bytes) -> dict[str, Any]:
    """A file as ``GET /repos/{o}/{r}/contents/{path}`` returns it (base64, wrapped at 60).

    Over 1 MB GitHub leaves the content out (``encoding: none``), as here.
    """
    sha = blob_sha(data)
    encoded = base64.b64encode(data).decode() if len(data) <= CONTENTS_INLINE_MAX else ""
    wrapped = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60))
    self_url = f"{api}/repos/{repo}/contents/{path}?ref={ref}"
    git_url = f"{api}/repos/{repo}/git/blobs/{sha}"
    html_url = f"{web}/{repo}/blob/{ref}/{path}"
    return {
        "type": "file",
        "encoding": "base64" if encoded else "none",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": wrapped + "\n" if wrapped else "",
        "sha": sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": f"{web}/raw/{repo}/{ref}/{path}",
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }


def label_json(api: str, repo: str, name: str, color: str = "ededed") -> dict[str, Any]:
    """A ``label`` of a repository (GitHub matches names without regard to case)."""
    lid = zlib.crc32(f"{repo}:{name.lower()}".encode()) & 0x7FFFFFFF
    return {
        "id": lid,
        "node_id": _node_id("Label", lid),
        "url": f"{api}/repos/{repo}/labels/{quote(name)}",
        "name": name,
        "description": "",  # a string: a PR in a list may not carry null here
        "color": color,
        "default": False,
    }


def team_json(api: str, web: str, org: str, slug: str) -> dict[str, Any]:
    """A ``team-simple`` (a ``team`` in a list: ``parent`` too): a team asked for a review."""
    tid = zlib.crc32(f"{org}/{slug}".encode()) & 0x7FFFFFFF
    return {
        "id": tid,
        "node_id": _node_id("Team", tid),
        "url": f"{api}/organizations/1/team/{tid}",
        "members_url": f"{api}/organizations/1/team/{tid}/members{{/member}}",
        "name": slug,
        "description": None,
        "permission": "pull",
        "html_url": f"{web}/orgs/{org}/teams/{slug}",
        "repositories_url": f"{api}/organizations/1/team/{tid}/repos",
        "slug": slug,
        "parent": None,
        "type": "organization",
    }
