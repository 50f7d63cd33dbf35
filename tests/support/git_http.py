"""A smart-HTTP git server for tests: ``git http-backend`` behind an ASGI app.

Serves every bare repository under ``root`` at ``http://127.0.0.1:<port>/<name>``
(fetch, clone and push) and, when ``token`` is set, demands the header GitHub
accepts for git over https: ``Authorization: Basic base64("x-access-token:<token>")``.
``accept`` (a predicate on the password of a Basic header) admits other
credentials too, such as a GitHub App's live installation tokens from
``tests.support.github_app_fake.AppAuthority.accepts``.
Every Authorization header it sees is kept in ``auth_seen`` for assertions.
Serve it with ``tests.support.servers.UvicornThread(GitHttpServer(root).app)``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def _backend() -> str:
    found = shutil.which("git-http-backend") or "/usr/lib/git-core/git-http-backend"
    if not Path(found).exists():
        exec_path = subprocess.run(
            ["git", "--exec-path"], capture_output=True, text=True, check=True
        ).stdout.strip()
        found = str(Path(exec_path) / "git-http-backend")
    return found


class GitHttpServer:
    def __init__(
        self, root: Path, token: str | None = None, accept: Callable[[str], bool] | None = None
    ) -> None:
        self.root = root
        self.token = token
        self.accept = accept
        self.auth_seen: list[str | None] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])

    def _authorized(self, header: str | None) -> bool:
        if self.accept is not None and header and header.startswith("Basic "):
            decoded = base64.b64decode(header.removeprefix("Basic ")).decode(errors="replace")
            if self.accept(decoded.partition(":")[2]):
                return True
        if self.token is None:
            return self.accept is None
        pair = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
        return header == f"Basic {pair}"

    async def _handle(self, request: Request) -> Response:
        header = request.headers.get("authorization")
        self.auth_seen.append(header)
        if not self._authorized(header):
            return Response("auth required", 401, {"WWW-Authenticate": 'Basic realm="git"'})
        body = await request.body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": "/" + request.path_params["path"],
            "QUERY_STRING": request.url.query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        if self.token is not None or self.accept is not None:
            env["REMOTE_USER"] = "x-access-token"  # enables receive-pack (push)
        for name in ("content-encoding", "git-protocol"):
            if name in request.headers:
                env["HTTP_" + name.upper().replace("-", "_")] = request.headers[name]
        done = await asyncio.to_thread(
            subprocess.run, [_backend()], input=body, capture_output=True, env=env, check=False
        )
        return _cgi_response(done.stdout)


def _cgi_response(output: bytes) -> Response:
    head, _, payload = output.partition(b"\r\n\r\n")
    if not _:
        head, _, payload = output.partition(b"\n\n")
    status = 200
    headers: dict[str, Any] = {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers[name.strip()] = value.strip()
    return Response(payload, status, headers=headers)
