"""The worker against GitHub: real PyGithub talking to the faithful fake, git over smart HTTP.

The target repository is served by ``git http-backend``, which demands the
token the way GitHub does; the fake plays the REST API. A small bridge tells
the fake which files a pushed branch changes (GitHub learns that from the push).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.control_plane import ControlPlane, control_plane  # noqa: F401
from tests.support.git_http import GitHttpServer
from tests.support.github_fake import GitHubFake
from tests.support.gitrepo import git
from tests.support.servers import UvicornThread
from tests.support.worker_harness import (
    SEED_EVENTS,
    TASK,
    ForgeHook,
    WorkerHarness,
    attempt_id_for,
)

from leviathan_adapters.forge.base import PullRequestInfo
from leviathan_adapters.forge.github import GitHubForge
from leviathan_core.config import AutonomyConfig

TOKEN = "ghp_leviathan_test_token_0123456789"
REPO = "acme/target"


class PushAwareGitHub(GitHubForge):
    """GitHubForge plus what GitHub does on a push: learn the branch's changed files."""

    def __init__(
        self, fake: GitHubFake, bare: Path, api_url: str, files: list[str] | None = None
    ) -> None:
        super().__init__(REPO, TOKEN, api_url=api_url)
        self.fake, self.bare, self.files = fake, bare, files

    def create_pull_request(
        self, *, branch: str, base: str, title: str, body: str
    ) -> PullRequestInfo:
        names = (
            self.files or git("diff", "--name-only", f"{base}...{branch}", cwd=self.bare).split()
        )
        changed: list[dict[str, Any]] = [{"filename": n, "status": "modified"} for n in names]
        self.fake.push_branch(REPO, branch, changed)
        return super().create_pull_request(branch=branch, base=base, title=title, body=body)


@dataclass
class GitHubSetup:
    harness: WorkerHarness
    fake: GitHubFake
    git_server: GitHttpServer
    repo_url: str
    api_url: str

    def config(self) -> AutonomyConfig:
        return self.harness.config(
            forge="github", target_repo_url=self.repo_url, github_api_url=self.api_url
        )

    def forge(self, files: list[str] | None = None) -> PushAwareGitHub:
        return PushAwareGitHub(self.fake, self.harness.bare, self.api_url, files)

    def run(self, attempt: str, **kwargs: Any) -> tuple[int, str]:
        kwargs.setdefault("forge", self.forge())
        kwargs.setdefault("github_token", TOKEN)
        return self.harness.run(attempt, config=self.config(), token_required=True, **kwargs)


@pytest.fixture
def github(tmp_path: Path, control_plane: ControlPlane) -> Iterator[GitHubSetup]:  # noqa: F811
    root = tmp_path / "git-root"
    harness = WorkerHarness(tmp_path, control_plane, repo_parent=root / "acme")
    fake = GitHubFake(token=TOKEN)
    fake.add_repo(REPO)
    git_server = GitHttpServer(root, token=TOKEN)
    with UvicornThread(fake.app) as api, UvicornThread(git_server.app) as http:
        yield GitHubSetup(harness, fake, git_server, f"{http.url}/acme/target.git", api.url)


def token_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


def test_happy_path_on_github(github: GitHubSetup) -> None:
    attempt = attempt_id_for(TASK)
    written: list[Path] = []

    def look_for_the_token() -> None:  # while both clones still exist
        folder = github.harness.workspace / attempt
        assert (folder / "publisher" / ".git" / "config").exists()
        assert (folder / "engine" / "target" / ".git" / "config").exists()
        written.extend(token_files(folder))

    forge = ForgeHook(github.forge(), pull_request_files=[look_for_the_token])
    code, output = github.run(attempt, forge=forge)

    assert code == 0, output
    assert github.harness.event_types(attempt) == SEED_EVENTS
    [pull] = github.fake.pulls[REPO]
    branch = f"agent/backlog-propose-{attempt}"
    assert (pull.head, pull.base, pull.state) == (branch, "main", "open")
    assert f"✓ PR created: {github.api_url}/acme/target/pull/{pull.number}" in output
    assert f"PR Number: {pull.number}" in output
    body = pull.body or ""
    for evidence in (
        attempt, "**Fence:** 1", "Every link in docs/README.md resolves",
        "`.leviathan/backlog.yaml`", "**Scope check:** passed",
        f"{github.harness.cp.url}/v1/attempts/{attempt}",
    ):  # fmt: skip
        assert evidence in body
    assert branch in github.harness.remote_branches()
    assert all(seen is not None for seen in github.git_server.auth_seen[-2:])
    assert TOKEN not in output
    assert written == []
    assert token_files(github.harness.workspace) == []


def test_retry_after_crash_gets_422_and_reuses_the_pr(github: GitHubSetup) -> None:
    attempt = attempt_id_for(TASK)

    class Crash(BaseException):
        pass

    def die() -> None:
        raise Crash

    with pytest.raises(Crash):
        github.run(attempt, forge=ForgeHook(github.forge(), pull_request_files=[die]))

    code, output = github.run(attempt)

    assert code == 0, output
    assert len(github.fake.pulls[REPO]) == 1
    creates = [r for r in github.fake.requests if r.method == "POST" and r.path.endswith("/pulls")]
    assert [r.status for r in creates] == [201, 422]
    assert github.harness.event_types(attempt) == SEED_EVENTS


def test_pr_file_list_differing_from_the_diff_is_pr_mismatch(github: GitHubSetup) -> None:
    attempt = attempt_id_for(TASK)
    forge = github.forge(files=[".leviathan/backlog.yaml", "src/evil.py"])

    code, output = github.run(attempt, forge=forge)

    assert code == 1
    last = output.strip().splitlines()[-1]
    assert last.startswith("✗ Attempt failed: pr_mismatch: the PR's files differ")
    assert "extra: src/evil.py" in last
    assert f"missing: .leviathan/proposals/{TASK}.md" in last


def test_wrong_token_is_clone_failed_without_leaking_it(github: GitHubSetup) -> None:
    attempt = attempt_id_for(TASK)
    wrong = "ghp_wrong_token_abcdef"
    code, output = github.run(attempt, github_token=wrong)

    assert code == 1
    assert output.strip().splitlines()[-1].startswith("✗ Attempt failed: clone_failed: ")
    assert "check the token's access to the repository" in output.strip().splitlines()[-1]
    assert wrong not in output
    assert "Traceback" not in output
    assert github.fake.pulls[REPO] == []


@pytest.mark.parametrize(("access", "status"), [("none", "404"), ("read", "403")])
def test_a_token_without_access_to_the_repository_is_forge_error(
    github: GitHubSetup, access: str, status: str
) -> None:
    """A private repository the token cannot see (404), or read-only access (403)."""
    attempt = attempt_id_for(TASK)
    github.fake.set_access(REPO, access)  # type: ignore[arg-type]

    code, output = github.run(attempt)

    assert code == 1
    last = output.strip().splitlines()[-1]
    assert last.startswith("✗ Attempt failed: forge_error: ")
    assert f"GitHub answered {status}" in last
    assert "check the token's access to the repository" in last
    assert TOKEN not in output
    assert github.fake.pulls[REPO] == []
