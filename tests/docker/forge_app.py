"""The forge of the container tier: GitHub's REST API and git's smart HTTP in one server.

Runs in its own container on the compose network, so the images under test talk to
it exactly as they would talk to GitHub Enterprise: the REST API under ``/api/v3``
(``tests.support.github_fake``, which the real PyGithub inside the containers
calls) and every bare repository under ``--root`` at ``/<owner>/<name>.git``
(``git http-backend`` behind ``tests.support.git_http``), both demanding the token.
When a pull request is opened for a branch the fake has not seen, the server
learns the branch's changed files from the bare repository, as GitHub does on a push.

    python -m tests.docker.forge_app --root /srv/git --repo acme/demo --token T --port 8080
    FORGE_TOKEN=T FORGE_REPOS='acme/demo acme/b' python -m tests.docker.forge_app --root /srv/git
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import uvicorn
from starlette.types import Receive, Scope, Send

from tests.support.git_http import GitHttpServer
from tests.support.github_fake import GitHubFake

API_PREFIX = "/api/v3"


def _git(bare: Path, *args: str) -> bool:
    return subprocess.run(["git", *args], cwd=bare, capture_output=True).returncode == 0


class PushAwareFake(GitHubFake):
    """The GitHub fake on the bare repositories (``git_root``: pushed branches, contents).

    Deleting a branch through the API deletes it in the bare repository too, as
    on GitHub. ``strict``: off by default, as the schema check needs the test
    tree's fixtures and jsonschema, which the container does not have.
    """

    def __init__(self, root: Path, token: str, *, strict: bool = False) -> None:
        super().__init__(prefix=API_PREFIX, token=token, strict=strict)
        self.root = root
        self.git_root = root  # pushed branches and contents come from the bare repositories

    def delete_branch(self, repo: str, branch: str) -> bool:
        bare, ref = self.root / f"{repo}.git", f"refs/heads/{branch}"
        in_git = bare.is_dir() and _git(bare, "rev-parse", "--verify", "--quiet", ref)
        if in_git:
            _git(bare, "update-ref", "-d", ref)
        return super().delete_branch(repo, branch) or in_git


class ForgeApp:
    """Route ``/api/v3/...`` to the REST fake and everything else to git."""

    def __init__(self, root: Path, token: str, repos: list[str], *, strict: bool = False) -> None:
        self.api = PushAwareFake(root, token, strict=strict)
        for repo in repos:
            self.api.add_repo(repo)
        self.git = GitHttpServer(root, token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(API_PREFIX + "/"):
            await self.git.app(scope, receive, send)
        else:
            await self.api.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument(
        "--repo",
        action="append",
        default=os.environ.get("FORGE_REPOS", "").split() or None,
        help="owner/name (repeat; default: FORGE_REPOS, space-separated)",
    )
    parser.add_argument("--token", default=os.environ.get("FORGE_TOKEN", ""))
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    if not args.token:
        parser.error("--token (or FORGE_TOKEN) is required")
    if not args.repo:
        parser.error("--repo (or FORGE_REPOS) is required")
    app = ForgeApp(args.root, args.token, args.repo)
    uvicorn.run(app, host="0.0.0.0", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
