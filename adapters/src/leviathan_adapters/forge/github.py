"""GitHub (and GitHub Enterprise) as the forge, through PyGithub.

Cheap on the rate limit by design: PyGithub's own throttles are off (one
cycle makes a handful of calls), transport retries are bounded and only for
idempotent calls on 5xx/connection errors (never the minutes-long sleeps
PyGithub's default retry makes on rate limits), and every GET is a
conditional request: the ETag of each page is remembered and a 304 reuses the
cached body. GitHub does not count 304 answers against the rate limit, so an
idle tick (no PR opened, closed or updated) costs none. The list is sorted by
``updated`` so that any change to the open set alters the first page.

GET calls go through PyGithub's ``Requester`` (the documented way to reach
endpoints with custom headers); PR creation uses ``Repository.create_pull``.

A 404 is ambiguous on GitHub: a missing object, or a private repository the
token cannot see. On that (rare) path the forge asks for the repository
itself once, so the error says which, and tells to check the token's access.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from math import ceil
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from github import Auth, Github
from github.GithubException import GithubException
from github.GithubObject import NotSet
from pydantic import SecretStr
from urllib3.util.retry import Retry

from leviathan_adapters.forge.base import (
    ForgeRejected,
    ForgeUnavailable,
    PRState,
    PullRequestInfo,
    attempt_from_branch,
    is_agent_branch,
)
from leviathan_adapters.forge.github_errors import error_messages, is_duplicate_pull, translate
from leviathan_adapters.forge.pr_habits import decorate
from leviathan_adapters.forge.rate_budget import RateBudget
from leviathan_adapters.forge.shared_cache import SharedCache, SharedEntry
from leviathan_adapters.git_auth import secret_value
from leviathan_core.pr_options import PullRequestOptions

T = TypeVar("T")
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
MAX_PAGES = 100  # 10,000 open PRs at 100 a page; GitHub caps PR files at 3,000


@dataclass
class _Cached:
    etag: str
    headers: dict[str, Any]
    data: Any


@dataclass
class RequestStats:
    """GET requests this forge made; ``not_modified`` (304) answers cost no rate limit."""

    requests: int = 0
    not_modified: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def counted(self) -> int:
        return self.requests - self.not_modified


def transport_retry(retries: int) -> Retry:
    """Retry idempotent calls on connection errors and 5xx only, with short backoff."""
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=0.3,
        backoff_max=2,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD", "DELETE"}),
        respect_retry_after_header=False,
        raise_on_status=False,
    )


def github_client(
    api_url: str,
    token: str | None,
    *,
    timeout: float = 10,
    retries: int = 2,
    pool_size: int = 64,
    auth: Auth.Auth | None = None,
) -> Github:
    """A PyGithub client to share between the forges of one token (one connection pool);
    ``auth`` replaces the token (a GitHub App's installation tokens)."""
    return Github(
        base_url=api_url.rstrip("/"),
        auth=auth or (Auth.Token(token) if token else None),
        timeout=max(1, ceil(timeout)),
        per_page=100,
        retry=transport_retry(retries),
        pool_size=pool_size,
        seconds_between_requests=None,
        seconds_between_writes=None,
        lazy=True,
    )


def pr_state(data: dict[str, Any]) -> PRState:
    if data.get("merged") or data.get("merged_at"):
        return "merged"
    return "closed" if data.get("state") == "closed" else "open"


def pull_info(data: dict[str, Any]) -> PullRequestInfo:
    """Our view of one GitHub PR JSON object."""
    branch = str(data["head"]["ref"])
    attempt_id, task_id = attempt_from_branch(branch)
    return PullRequestInfo(
        number=int(data["number"]),
        url=str(data.get("html_url") or data["url"]),
        branch=branch,
        base=str(data["base"]["ref"]),
        title=str(data.get("title") or ""),
        state=pr_state(data),
        task_id=task_id,
        attempt_id=attempt_id,
    )


def changed_paths(files: list[dict[str, Any]]) -> list[str]:
    """Paths from GitHub's PR file list; a rename yields the old and the new path."""
    paths: dict[str, None] = {}
    for item in files:
        if item.get("previous_filename"):
            paths[str(item["previous_filename"])] = None
        paths[str(item["filename"])] = None
    return list(paths)


class GitHubForge:
    """The Forge protocol for one ``owner/name`` repository."""

    def __init__(
        self,
        repo_full_name: str,
        token: SecretStr | str | None,
        *,
        api_url: str = "https://api.github.com",
        timeout: float = 10,
        per_page: int = 100,
        retries: int = 2,
        cache_size: int = 512,
        auth: Auth.Auth | None = None,
        github: Github | None = None,
        budget: RateBudget | None = None,
        shared: SharedCache | None = None,
    ) -> None:
        """``auth``: credentials other than ``token`` (a GitHub App's installation tokens);
        ``github``: a client shared with other forges of the same token (``github_client``);
        ``budget``: the token's rate-limit hold shared in Redis (``rate_budget``);
        ``shared``: the token's ETag cache shared in Redis (``shared_cache``)."""
        if not _REPO_NAME.match(repo_full_name or ""):
            raise ValueError(f"GitHub repository {repo_full_name!r} is not of the form owner/name")
        if not 1 <= per_page <= 100:
            raise ValueError(f"per_page must be between 1 and 100, got {per_page}")
        self.repo_full_name = repo_full_name
        self.api_url = api_url.rstrip("/")
        self.per_page = per_page
        self.stats = RequestStats()
        self._token = secret_value(token)
        self._github = github or github_client(
            self.api_url, self._token, timeout=timeout, retries=retries, pool_size=10, auth=auth
        )
        self.budget = budget
        self.shared = shared
        self._path = f"/repos/{repo_full_name}"
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    @property
    def rate_limit(self) -> tuple[int, int]:
        """(remaining, limit) from the last answer's headers; (-1, -1) before any call."""
        remaining, limit = self._github.rate_limiting
        return int(remaining), int(limit)

    # ---- Forge protocol ------------------------------------------------------
    def open_agent_prs(self) -> list[PullRequestInfo]:
        """Open PRs from ``agent/`` branches of this repository (forks never count)."""
        action = "listing open pull requests"
        params = {"state": "open", "sort": "updated", "direction": "desc"}
        try:
            pulls = self._get_all(f"{self._path}/pulls", params, action)
            return self._call(action, lambda: [pull_info(p) for p in pulls if self._ours(p)])
        except ForgeRejected as exc:  # a read that fails is a fact we do not have
            raise ForgeUnavailable(str(exc)) from None

    def get_pull_request(self, number: int) -> PullRequestInfo:
        action = f"reading pull request #{number}"
        return self._call(
            action, lambda: pull_info(self._get(f"{self._path}/pulls/{number}", None)[1])
        )

    def create_pull_request(
        self, *, branch: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequestInfo:
        """Open a PR; GitHub's 422 "already exists" returns the open PR for ``branch``."""
        action = f"creating a pull request from {branch} into {base}"
        self._hold_check(action)
        repo = self._github.get_repo(self.repo_full_name)
        try:
            # NotSet: a plain PR's request stays as it was, without "draft": false
            created = repo.create_pull(
                base=base, head=branch, title=title, body=body, draft=draft or NotSet
            )
        except Exception as exc:
            if is_duplicate_pull(exc):
                return self._existing_pull(branch, action)
            raise self._mapped(exc, action) from None
        return self._call(action, lambda: pull_info(created.raw_data))

    def pull_request_files(self, number: int) -> list[str]:
        """Changed paths of PR ``number``; a rename yields the old and the new path."""
        action = f"listing files of pull request #{number}"
        files = self._get_all(f"{self._path}/pulls/{number}/files", {}, action)
        return self._call(action, lambda: changed_paths(files))

    def delete_branch(self, branch: str) -> bool:
        """Delete ``branch``; False when it did not exist (idempotent)."""
        url = f"{self._path}/git/refs/heads/{quote(branch, safe='/')}"
        self._hold_check(f"deleting branch {branch}")
        try:
            self._github.requester.requestJsonAndCheck("DELETE", url)
        except GithubException as exc:
            gone = exc.status == 422 and _says(exc, "reference does not exist")
            if gone or (exc.status == 404 and not self._repo_hidden()):
                return False
            raise self._mapped(exc, f"deleting branch {branch}") from None
        except Exception as exc:
            raise self._mapped(exc, f"deleting branch {branch}") from None
        return True

    def get_json(self, url: str, params: dict[str, Any] | None, action: str) -> Any:
        """A conditional GET's JSON (cached on 304); GitHub's refusal as GithubException."""
        try:
            return self._get(url, params)[1]
        except GithubException:
            raise
        except Exception as exc:
            raise self._mapped(exc, action) from None

    def decorate_pull_request(self, number: int, options: PullRequestOptions) -> list[str]:
        """Labels (created when missing) and review requests; returns what could not be done."""
        return decorate(self._github.get_repo(self.repo_full_name), number, options,
                        lambda exc, action: str(self._mapped(exc, action)))  # fmt: skip

    # ---- plumbing ------------------------------------------------------------
    def _ours(self, pull: dict[str, Any]) -> bool:
        """An ``agent/`` head branch pushed to this repository (not to a fork)."""
        head_repo = pull["head"].get("repo") or {}
        same_repo = str(head_repo.get("full_name") or "").lower() == self.repo_full_name.lower()
        return same_repo and is_agent_branch(str(pull["head"]["ref"]))

    def _existing_pull(self, branch: str, action: str) -> PullRequestInfo:
        owner = self.repo_full_name.split("/")[0]
        params = {"state": "open", "head": f"{owner}:{branch}"}
        pulls = self._get_all(f"{self._path}/pulls", params, action)
        if not pulls:
            raise ForgeRejected(f"GitHub says a pull request exists for {branch} but none is open")
        return pull_info(pulls[0])

    def _hold_check(self, action: str) -> None:
        """Refuse to send while the token's budget is held (no request, no cost)."""
        hold = self.budget.current() if self.budget is not None else None
        if hold is not None:
            raise ForgeUnavailable(f"not {action}: {hold.describe(time.time())}")

    def _mapped(self, exc: Exception, action: str) -> Exception:
        if self.budget is not None and isinstance(exc, GithubException):
            self.budget.observe(exc.status, dict(exc.headers or {}))
        hidden = isinstance(exc, GithubException) and exc.status == 404 and self._repo_hidden()
        return translate(exc, action, self._token, repo=self.repo_full_name, repo_hidden=hidden)

    def _repo_hidden(self) -> bool:
        """True when the repository itself answers 404: the token cannot see it."""
        try:
            self._get(self._path, None)
        except GithubException as exc:
            return exc.status == 404
        except Exception:  # unknown: keep the original error's own meaning
            return False
        return False

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:
            raise self._mapped(exc, action) from None

    def _get_all(self, path: str, params: dict[str, Any], action: str) -> list[dict[str, Any]]:
        """Every item of a paginated list, following ``Link: rel="next"``."""
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": self.per_page}
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            headers, data = self._call(action, partial(self._get, url, query))
            if not isinstance(data, list):
                raise ForgeUnavailable(
                    f"GitHub sent {type(data).__name__}, not a list, while {action}"
                )
            items.extend(data)
            match = _NEXT_LINK.search(str(headers.get("link", "")))
            url, query = (match.group(1), None) if match else (None, None)
        raise ForgeUnavailable(f"more than {MAX_PAGES} pages while {action}")

    def _get(self, url: str, params: dict[str, Any] | None) -> tuple[dict[str, Any], Any]:
        """A conditional GET: a 304 answers from the cache at no rate-limit cost."""
        key = f"{url}?{urlencode(sorted((params or {}).items()))}"
        self._hold_check(f"reading {url}")
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is None and self.shared is not None:
            entry = self.shared.get(key)
            if entry is not None:
                cached = _Cached(entry.etag, entry.headers, entry.data)
        conditional = {"If-None-Match": cached.etag} if cached else {}
        requester = self._github.requester
        status, headers, body = requester.requestJson("GET", url, params, conditional)
        with self.stats.lock:
            self.stats.requests += 1
            self.stats.not_modified += status == 304
        if status == 304 and cached is not None:
            self._remember(key, cached)
            return cached.headers, cached.data
        if self.budget is not None:
            self.budget.observe(status, headers)
        data = _json(body)
        if status >= 300:
            raise requester.createException(status, headers, data)
        if headers.get("etag"):
            fresh = _Cached(headers["etag"], headers, data)
            self._remember(key, fresh)
            if self.shared is not None:
                self.shared.put(key, SharedEntry(fresh.etag, headers, data))
        return headers, data

    def _remember(self, key: str, cached: _Cached) -> None:
        with self._cache_lock:
            self._cache[key] = cached
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)


def _says(exc: GithubException, text: str) -> bool:
    return any(text in message.lower() for message in error_messages(exc))


def _json(body: str) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return {"message": body[:200]}
