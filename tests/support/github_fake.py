"""A faithful GitHub REST fake that the real PyGithub client talks to over a socket.

Serve ``GitHubFake().app`` with ``tests.support.servers.UvicornThread`` and point
``Github(base_url=server.url + fake.prefix)`` at it. Routes (under ``prefix``,
empty for github.com style, ``/api/v3`` for GitHub Enterprise style):

- ``GET /repos/{o}/{r}``; ``GET|POST /repos/{o}/{r}/pulls`` (``state``, ``head``,
  ``base``, ``sort``, ``direction``, ``per_page`` (max 100), ``page``);
  ``GET|PATCH /repos/{o}/{r}/pulls/{n}``; ``GET /repos/{o}/{r}/pulls/{n}/files``
  (paginated); ``DELETE /repos/{o}/{r}/git/refs/heads/{branch}``;
  ``GET /repos/{o}/{r}/contents/{path}?ref=`` (a file, base64, from ``put_file``
  or, with ``git_root``, from the bare repository ``<git_root>/<o>/<r>.git``; with
  ``git_root`` a PR's head branch not seen yet is also read from there, as GitHub
  knows a pushed branch's files).
- Issues and a collaborator's permission (``tests.support.github_fake_issues``).
- Pagination answers ``Link`` with rel first/prev/next/last built from the
  request URL, and every object carries absolute ``url`` fields on the fake's
  own host:port, as PyGithub follows them.
- Every 200 GET carries an ``ETag``; a matching ``If-None-Match`` gets a 304
  with no body that does not count against the rate limit (GitHub's rule).
- Every answer carries ``X-RateLimit-Limit/Remaining/Reset/Used/Resource``.
  Counted requests decrement ``rate_remaining``; at 0 the fake answers the
  primary rate-limit 403 by itself.

Switches:

- ``token``: when set, requests must send ``Authorization: token <token>`` (or
  ``Bearer``), else 401 ``Bad credentials`` / ``Requires authentication``.
- ``inject(kind, times=1, match=None, status=None, message=None)``: the next
  ``times`` requests (None: until ``clear_faults()``) whose path+query contains
  ``match`` answer with ``"primary"`` (403, or ``status`` 429, remaining 0),
  ``"secondary"`` (403 with ``Retry-After``), ``"abuse429"`` (429 with
  ``Retry-After``), ``"limit429"`` (429 with neither header: wait a minute),
  ``"server_error"`` (``status``, default 502), ``"bad_credentials"`` (401) or
  ``"malformed"`` (a 200 whose JSON is not what the route returns).
  ``message`` replaces GitHub's wording, which varies: clients must decide
  from the status and headers.
- ``set_access(repo, "none" | "read" | "write")``: what the token may do.
  ``"none"`` is a private repository the token cannot see: every route under
  it answers 404, as GitHub does. ``"read"`` refuses writes with 403
  ``Resource not accessible by <token_kind>`` and
  ``X-Accepted-GitHub-Permissions``. ``token_kind``: ``"personal access
  token"`` (default) or ``"integration"`` (a GitHub App).
- ``rate_remaining``, ``rate_limit``, ``retry_after``: the numbers it reports.
- ``latency``: seconds every answer waits (without blocking other requests),
  as a distant GitHub does; the scale benchmark uses 0.05.
- ``requests``: every request seen (``Recorded``), for assertions.

GitHub Apps (``tests.support.github_app_fake``): ``use_app(AppAuthority(...))``
serves ``POST /app/installations/{id}/access_tokens`` and ``GET
/repos/{o}/{r}/installation`` to the App's JWT, and then every other route
takes a live installation token (or ``token``); an expired or unknown one is
GitHub's 401. Labels and review requests (``tests.support.github_habit_routes``):
``GET|POST /repos/{o}/{r}/labels``, ``POST /repos/{o}/{r}/issues/{n}/labels``,
``POST /repos/{o}/{r}/pulls/{n}/requested_reviewers``; ``draft`` on create.

Answer shapes (objects, errors, Link, ETag) live in ``tests.support.github_shapes``.
Fixtures: ``add_repo``, ``push_branch`` (a branch and the files it changes),
``add_pull`` (an existing PR in any state), ``set_pull_state``.

Refusals, with GitHub's error shape (``message``, ``documentation_url``; a 422
also has ``errors``): creating a PR answers 422 exactly as GitHub does for a
missing ``head``, ``base`` or ``title``, an unknown head or base, a branch with
no commits, a second open PR for the same head, and a title over 256 or a body
over 65,536 characters (also on PATCH); PATCH refuses any ``state`` but open or
closed (``merged`` too: merging is another endpoint) and fields of the wrong
JSON type; a body that is not JSON is a 400 "Problems parsing JSON", one that is
not a JSON object a 400 "Body should be a JSON object"; an unknown route or
method is GitHub's 404. Deleting a branch (``DELETE .../git/refs/heads/…`` or
``delete_branch``, as a push would) closes the open PRs whose head it was, as
GitHub does.

``strict`` (default: on while pytest runs a test, off elsewhere, e.g. in the
container tier's forge): every answer is checked against GitHub's REST
description (``tests.support.github_schema``, from
``tests/fixtures/github-openapi/subset.json``): the status must be documented
for the operation and the JSON body must match its schema. What does not is
kept in ``violations`` (and ``Recorded.checked`` says what was checked); the
autouse fixture in ``tests/conftest.py`` fails the test that caused it. The
``malformed`` fault is wrong on purpose and is not checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from tests.support.github_app_fake import AppRoutes
from tests.support.github_fake_issues import IssueRoutes
from tests.support.github_habit_routes import HabitRoutes
from tests.support.github_shapes import (
    DOCS,
    DOCS_CREATE_PULL,
    DOCS_DELETE_REF,
    DOCS_UPDATE_PULL,
    MAX_BODY,
    MAX_TITLE,
    Access,
    FakePull,
    FaultKind,
    GitHubError,
    Recorded,
    answer,
    check_request,
    content_json,
    custom_error,
    fault_error,
    file_json,
    is_rate_refusal,
    not_accessible,
    not_found,
    page,
    parse_body,
    pull_json,
    rate_headers,
    repo_json,
    too_long,
    validation_failed,
)

if TYPE_CHECKING:
    from tests.support.github_schema import GitHubSchema

__all__ = ["FakePull", "FaultKind", "GitHubFake", "Recorded", "SwappableApp", "unreported"]

_LIVE: weakref.WeakSet[GitHubFake] = weakref.WeakSet()
_GIT_STATUS = {"A": "added", "M": "modified", "D": "removed", "R": "renamed", "C": "added"}


def branch_files(bare: Path, base: str, head: str) -> list[dict[str, Any]]:
    """The files ``head`` changes against ``base``, in the shape of GitHub's file list."""
    done = subprocess.run(
        ["git", "diff", "--name-status", "-z", "-M", f"{base}...{head}"],
        cwd=bare,
        capture_output=True,
        check=True,
    )
    fields = done.stdout.decode().split("\0")
    files: list[dict[str, Any]] = []
    while len(fields) > 1:
        status = fields.pop(0)
        if status[:1] in ("R", "C"):
            old, new = fields.pop(0), fields.pop(0)
            files.append(
                {"filename": new, "status": _GIT_STATUS[status[0]], "previous_filename": old}
            )
        else:
            files.append(
                {"filename": fields.pop(0), "status": _GIT_STATUS.get(status[:1], "changed")}
            )
    return files


def unreported() -> list[str]:
    """Schema violations of every live strict fake not reported yet (then marked reported)."""
    found: list[str] = []
    for fake in list(_LIVE):
        with fake._lock:
            found.extend(fake.violations[fake._reported :])
            fake._reported = len(fake.violations)
    return found


class SwappableApp:
    """An ASGI app that forwards to ``self.app``: one server, a fresh fake per test."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.app(scope, receive, send)


class _Fault:
    def __init__(
        self,
        kind: FaultKind,
        times: int | None,
        match: str | None,
        status: int | None,
        message: str | None,
    ):
        self.kind, self.remaining, self.match = kind, times, match
        self.status, self.message = status, message


class GitHubFake(IssueRoutes, AppRoutes, HabitRoutes):
    def __init__(
        self, prefix: str = "", token: str | None = None, *, strict: bool | None = None
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.token = token
        self.strict = "PYTEST_CURRENT_TEST" in os.environ if strict is None else strict
        self.violations: list[str] = []
        self._reported = 0
        self._schema: GitHubSchema | None = None
        if self.strict:
            from tests.support.github_schema import github_schema  # needs jsonschema

            self._schema = github_schema()
            _LIVE.add(self)
        self.rate_limit = 5000
        self.rate_remaining = 5000
        self.retry_after = 1
        self.requests: list[Recorded] = []
        self.repos: dict[str, dict[str, list[dict[str, Any]]]] = {}  # repo -> branch -> files
        self.pulls: dict[str, list[FakePull]] = {}
        self.access: dict[str, Access] = {}  # repo -> what the token may do (default write)
        self.token_kind = "personal access token"
        self.latency = 0.0
        self.files: dict[tuple[str, str, str], bytes] = {}  # (repo, branch, path) -> bytes
        self.git_root: Path | None = None
        self._faults: list[_Fault] = []
        self._clock = 0
        self._lock = threading.RLock()
        self.app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)  # GitHub has none
        self.app.middleware("http")(self._middleware)
        self.app.add_exception_handler(HTTPException, self._no_such_route)
        self.app.add_exception_handler(RequestValidationError, self._no_such_route)
        self.app.include_router(self._router(), prefix=self.prefix)

    # ---- fixtures and switches -------------------------------------------
    def add_repo(self, full_name: str) -> None:
        with self._lock:
            self.repos.setdefault(full_name, {"main": []})
            self.pulls.setdefault(full_name, [])

    def put_file(self, repo: str, branch: str, path: str, data: bytes) -> None:
        """A file on ``branch`` as the contents route serves it."""
        with self._lock:
            self.add_repo(repo)
            self.repos[repo].setdefault(branch, [])
            self.files[(repo, branch, path)] = data

    def _file(self, repo: str, ref: str, path: str) -> bytes | None:
        """A file's bytes from ``put_file``, else from the bare repository under ``git_root``."""
        held = self.files.get((repo, ref, path))
        if held is not None or self.git_root is None:
            return held
        for bare in (self.git_root / f"{repo}.git", self.git_root / repo):
            if bare.is_dir():
                done = subprocess.run(
                    ["git", "--git-dir", str(bare), "cat-file", "blob", f"{ref}:{path}"],
                    capture_output=True,
                    check=False,
                )
                return done.stdout if done.returncode == 0 else None
        return None

    def push_branch(
        self, repo: str, branch: str, files: list[dict[str, Any]] | None = None
    ) -> None:
        """``files`` items: {"filename", "status", optional "previous_filename"}."""
        default = [{"filename": f"docs/{branch.replace('/', '-')}.md", "status": "added"}]
        with self._lock:
            self.add_repo(repo)
            self.repos[repo][branch] = default if files is None else files

    def add_pull(
        self,
        repo: str,
        head: str,
        *,
        base: str = "main",
        state: str = "open",
        merged: bool = False,
        files: list[dict[str, Any]] | None = None,
        head_repo: str | None = None,
    ) -> FakePull:
        """An existing PR in any state (``head_repo``: the fork it comes from)."""
        with self._lock:
            self.push_branch(repo, head, files)
            pull = FakePull(
                number=len(self.pulls[repo]) + 1,
                head=head,
                base=base,
                title=f"PR for {head}",
                body=None,
                state=state,
                merged=merged,
                head_repo=head_repo,
                created=self._tick(),
                updated=self._clock,
                files=self.repos[repo][head],
            )
            self.pulls[repo].append(pull)
            return pull

    def set_pull_state(self, repo: str, number: int, state: str, merged: bool = False) -> None:
        with self._lock:
            pull = self._pull(repo, number)
            pull.state, pull.merged, pull.updated = state, merged, self._tick()

    def delete_branch(self, repo: str, branch: str) -> bool:
        """Remove ``branch``; GitHub closes the open PRs whose head it was (not merged)."""
        with self._lock:
            if self.repos.get(repo, {}).pop(branch, None) is None:
                return False
            for pull in self.pulls[repo]:
                if pull.head == branch and pull.head_repo is None and pull.state == "open":
                    pull.state, pull.updated = "closed", self._tick()
            return True

    def set_access(self, repo: str, access: Access) -> None:
        with self._lock:
            self.access[repo] = access

    def inject(
        self,
        kind: FaultKind,
        times: int | None = 1,
        match: str | None = None,
        status: int | None = None,
        message: str | None = None,
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(kind, times, match, status, message))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def counted(self) -> list[Recorded]:
        """Requests that cost rate limit (all but 304s and rate-limit refusals)."""
        return [r for r in self.requests if r.counted]

    # ---- plumbing ---------------------------------------------------------
    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _pull(self, repo: str, number: int) -> FakePull:
        for pull in self.pulls.get(repo, []):
            if pull.number == number:
                return pull
        raise not_found()

    def _fault_for(self, target: str) -> GitHubError | None:
        for fault in self._faults:
            if fault.match is not None and fault.match not in target:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault_error(fault.kind, fault.status, self.retry_after, fault.message)
        if self.rate_remaining <= 0:
            return fault_error("primary", 403, self.retry_after)
        return None

    def _auth_error(self, request: Request) -> GitHubError | None:
        if self.apps is not None:
            return self.apps.auth_error(request, self.prefix, self.token)
        if self.token is None:
            return None
        header = request.headers.get("authorization")
        if header is None:
            body = {"message": "Requires authentication", "documentation_url": DOCS}
            return GitHubError(401, {**body, "status": "401"})
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("token", "bearer") or value != self.token:
            return fault_error("bad_credentials", 401, self.retry_after)
        return None

    async def _middleware(self, request: Request, call_next: Any) -> Response:
        target = request.url.path + ("?" + request.url.query if request.url.query else "")
        record = Recorded(
            request.method,
            request.url.path,
            dict(request.query_params),
            request.headers.get("if-none-match"),
        )
        if self.latency:
            await asyncio.sleep(self.latency)
        with self._lock:
            self.requests.append(record)
            error = self._auth_error(request) or self._fault_for(target)
        response: Response = error.response() if error else await call_next(request)
        if self._schema is not None:
            response = await self._check(request, record, response, error)
        with self._lock:
            record.status = response.status_code
            record.counted = response.status_code != 304 and not is_rate_refusal(error)
            if record.counted:
                self.rate_remaining = max(0, self.rate_remaining - 1)
            response.headers.update(rate_headers(self.rate_limit, self.rate_remaining))
            if error is not None:
                response.headers.update(error.headers)
        return response

    async def _check(
        self, request: Request, record: Recorded, response: Response, error: GitHubError | None
    ) -> Response:
        """Hold the answer to GitHub's description; a violation is kept, the answer sent."""
        from tests.support.github_schema import SchemaViolation

        assert self._schema is not None
        if error is not None and error.malformed:
            record.checked = "skipped: the malformed fault is wrong on purpose"
            return response
        body = getattr(response, "body", None)
        if body is None:  # a streamed answer from the router: read it, send a copy
            chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
            body = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
            copy = Response(body, response.status_code)
            copy.raw_headers = list(response.raw_headers)
            response = copy
        path = request.url.path
        inside = path.startswith(self.prefix + "/") or not self.prefix
        try:
            record.checked = self._schema.check_response(
                request.method,
                path.removeprefix(self.prefix) if inside else f"/outside-the-api{path}",
                response.status_code,
                bytes(body),
                response.headers.get("content-type", ""),
            )
        except SchemaViolation as exc:
            record.checked = f"violation: {exc}"
            with self._lock:
                self.violations.append(f"{request.method} {request.url.path}: {exc}")
        return response

    async def _no_such_route(self, request: Request, exc: Exception) -> Response:
        """GitHub answers 404 to a path or method it does not have (and to ``pulls/abc``)."""
        return not_found().response()

    async def _payload(self, request: Request, docs: str) -> dict[str, Any] | GitHubError:
        """The request's JSON object, or GitHub's 400 for a body that is not one."""
        try:
            return parse_body(await request.body(), docs)
        except GitHubError as exc:
            return exc

    def _urls(self, request: Request) -> tuple[str, str]:
        """(API root, web root) on the host:port the client used."""
        web = f"{request.url.scheme}://{request.url.netloc}"
        return f"{web}{self.prefix}", web

    # (method, path under the prefix, handler): what the fake serves, each one an
    # operation of GitHub's description (a test holds them to the subset).
    ROUTES = (
        ("GET", "/repos/{o}/{r}", "_get_repo"),
        ("GET", "/repos/{o}/{r}/pulls", "_list_pulls"),
        ("POST", "/repos/{o}/{r}/pulls", "_create_pull"),
        ("GET", "/repos/{o}/{r}/pulls/{n}", "_get_pull"),
        ("PATCH", "/repos/{o}/{r}/pulls/{n}", "_patch_pull"),
        ("GET", "/repos/{o}/{r}/pulls/{n}/files", "_files"),
        ("DELETE", "/repos/{o}/{r}/git/refs/heads/{branch:path}", "_delete_ref"),
        ("GET", "/repos/{o}/{r}/contents/{path:path}", "_get_contents"),
        *IssueRoutes.ISSUE_ROUTES,  # issues and collaborator permission: github_fake_issues
        ("POST", "/app/installations/{installation_id}/access_tokens", "_mint_token"),
        ("GET", "/repos/{o}/{r}/installation", "_repo_installation"),
        ("GET", "/repos/{o}/{r}/labels", "_list_labels"),
        ("POST", "/repos/{o}/{r}/labels", "_create_label"),
        ("POST", "/repos/{o}/{r}/issues/{n}/labels", "_add_labels"),
        ("POST", "/repos/{o}/{r}/pulls/{n}/requested_reviewers", "_request_reviewers"),
    )

    def _router(self) -> APIRouter:
        router = APIRouter()
        for method, path, handler in self.ROUTES:
            router.add_api_route(path, getattr(self, handler), methods=[method])
        return router

    # ---- routes -------------------------------------------------------------
    def _guard(self, fn: Any) -> Response:
        """Run a route body under the lock; a GitHubError becomes its answer."""
        try:
            with self._lock:
                return fn()  # type: ignore[no-any-return]
        except GitHubError as exc:
            return exc.response()

    def _repo(self, o: str, r: str, write: str | None = None) -> str:
        """The repository, as the token sees it; ``write``: the permission a write needs."""
        repo = f"{o}/{r}"
        access = self.access.get(repo, "write")
        if repo not in self.repos or access == "none":
            raise not_found()  # GitHub hides a private repository the token cannot see
        if write is not None and access != "write":
            raise not_accessible(self.token_kind, write)
        return repo

    def _get_repo(self, request: Request, o: str, r: str) -> Response:
        return self._guard(
            lambda: answer(request, repo_json(*self._urls(request), self._repo(o, r)))
        )

    def _list_pulls(self, request: Request, o: str, r: str) -> Response:
        def run() -> Response:
            repo, q = self._repo(o, r), request.query_params
            state, head, base = q.get("state", "open"), q.get("head"), q.get("base")
            pulls = [
                p
                for p in self.pulls[repo]
                if state in ("all", p.state)
                and (head is None or f"{(p.head_repo or repo).split('/')[0]}:{p.head}" == head)
                and (base is None or p.base == base)
            ]
            sort = q.get("sort", "created")
            direction = q.get("direction", "desc" if sort == "created" else "asc")
            pulls.sort(
                key=lambda p: p.updated if sort == "updated" else p.created,
                reverse=direction == "desc",
            )
            urls = self._urls(request)
            return page(request, pulls, lambda p: pull_json(*urls, repo, p, full=False))

        return self._guard(run)

    def _learn_pushed_branch(self, o: str, r: str, payload: dict[str, Any] | GitHubError) -> None:
        """With ``git_root``: a head branch not seen yet is read from the bare repository,
        as GitHub knows a pushed branch's files (otherwise the 422 for no branch stands)."""
        if self.git_root is None or isinstance(payload, GitHubError):
            return
        head = str(payload.get("head", "")).removeprefix(f"{o}:")
        base = str(payload.get("base", ""))
        bare = self.git_root / o / f"{r}.git"
        plain = all(n and not n.startswith("-") for n in (head, base))
        if bare.is_dir() and plain and head not in self.repos.get(f"{o}/{r}", {}):
            with contextlib.suppress(subprocess.CalledProcessError):
                self.push_branch(f"{o}/{r}", head, branch_files(bare, base, head))

    async def _create_pull(self, request: Request, o: str, r: str) -> Response:
        payload = await self._payload(request, DOCS_CREATE_PULL)
        self._learn_pushed_branch(o, r, payload)

        def run() -> Response:
            repo = self._repo(o, r, write="pull_requests=write")
            if isinstance(payload, GitHubError):
                raise payload
            check_request("pulls/create", payload, DOCS_CREATE_PULL)
            head = str(payload["head"]).removeprefix(f"{o}:")
            base = str(payload["base"])
            branches = self.repos[repo]
            for name, value in (("head", head), ("base", base)):
                if value not in branches:
                    raise validation_failed(
                        {"resource": "PullRequest", "field": name, "code": "invalid"}
                    )
            if any(p.head == head and p.state == "open" for p in self.pulls[repo]):
                raise custom_error(f"A pull request already exists for {o}:{head}.")
            if not branches[head]:
                raise custom_error(f"No commits between {base} and {head}")
            self._check_lengths(payload, DOCS_CREATE_PULL)
            pull = FakePull(
                number=len(self.pulls[repo]) + 1,
                head=head,
                base=base,
                title=str(payload.get("title")),
                body=payload.get("body"),
                created=self._tick(),
                updated=self._clock,
                files=branches[head],
                draft=payload.get("draft") is True,
            )
            self.pulls[repo].append(pull)
            data = pull_json(*self._urls(request), repo, pull)
            return answer(request, data, 201, {"Location": data["url"]})

        return self._guard(run)

    def _get_pull(self, request: Request, o: str, r: str, n: int) -> Response:
        def run() -> Response:
            repo = self._repo(o, r)
            return answer(request, pull_json(*self._urls(request), repo, self._pull(repo, n)))

        return self._guard(run)

    async def _patch_pull(self, request: Request, o: str, r: str, n: int) -> Response:
        payload = await self._payload(request, DOCS_UPDATE_PULL)

        def run() -> Response:
            repo = self._repo(o, r, write="pull_requests=write")
            pull = self._pull(repo, n)
            if isinstance(payload, GitHubError):
                raise payload
            check_request("pulls/update", payload, DOCS_UPDATE_PULL)
            self._check_lengths(payload, DOCS_UPDATE_PULL)
            pull.title = payload.get("title", pull.title)
            pull.body = payload.get("body", pull.body)
            pull.state = payload.get("state", pull.state)
            pull.updated = self._tick()
            return answer(request, pull_json(*self._urls(request), repo, pull))

        return self._guard(run)

    @staticmethod
    def _check_lengths(payload: dict[str, Any], docs: str) -> None:
        for name, limit in (("title", MAX_TITLE), ("body", MAX_BODY)):
            error = too_long(name, payload.get(name), limit, docs)
            if error is not None:
                raise error

    def _files(self, request: Request, o: str, r: str, n: int) -> Response:
        def run() -> Response:
            repo = self._repo(o, r)
            pull, urls = self._pull(repo, n), self._urls(request)
            render = lambda item: file_json(*urls, repo, item)  # noqa: E731
            return page(request, pull.files[:3000], render)  # GitHub lists at most 3,000

        return self._guard(run)

    def _delete_ref(self, request: Request, o: str, r: str, branch: str) -> Response:
        def run() -> Response:
            repo = self._repo(o, r, write="contents=write")
            if branch == "main":  # the default branch (repo_json's)
                raise GitHubError(
                    422,
                    {
                        "message": "Cannot delete the default branch",
                        "documentation_url": DOCS_DELETE_REF,
                        "status": "422",
                    },
                )
            if not self.delete_branch(repo, branch):
                body = {"message": "Reference does not exist", "documentation_url": DOCS_DELETE_REF}
                raise GitHubError(422, {**body, "status": "422"})
            return Response(status_code=204)

        return self._guard(run)

    def _get_contents(self, request: Request, o: str, r: str, path: str) -> Response:
        def run() -> Response:
            repo = self._repo(o, r)
            ref = request.query_params.get("ref") or "main"
            if (data := self._file(repo, ref, path)) is None:
                raise not_found()
            return answer(request, content_json(*self._urls(request), repo, ref, path, data))

        return self._guard(run)
