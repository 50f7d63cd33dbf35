"""One contract for both forges: what the ``Forge`` protocol promises, asserted the same way.

Each test runs twice: on ``LocalForge`` (a bare repository on disk and its PR
store) and on ``GitHubForge`` (the real PyGithub against the strict GitHub fake,
GitHub Enterprise style under ``/api/v3``, with the repository served by
``git http-backend`` on the same server, ``tests.docker.forge_app.ForgeApp``;
branches are pushed over smart HTTP). Branches reach each forge the way they
do in production; only closing a PR is forge-specific (the protocol has no
such call), so each world says how.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.docker.forge_app import API_PREFIX, ForgeApp
from tests.support.github_fake import SwappableApp
from tests.support.gitrepo import commit_files, git, make_target_repo
from tests.support.servers import UvicornThread, free_port

from leviathan_adapters.forge.base import Forge, ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.github import GitHubForge
from leviathan_adapters.forge.local import LocalForge
from leviathan_core.pr_options import PullRequestOptions

TOKEN = "ghp_fake_token_for_the_contract"
REPO = "acme/target"
BACKLOG = "tasks:\n  - id: fix-docs\n    title: Fix docs\n    ready: true\n"
BRANCH = "agent/backlog-propose-attempt-fix-docs-0a1b2c3d"


@dataclass
class World:
    """A forge and the means to act on it from outside the protocol."""

    name: str
    forge: Forge
    push: Callable[..., None]  # push(branch, files, renames=None): commits on top of main
    point: Callable[[str], None]  # point(branch): a branch at main, no commits of its own
    close: Callable[[int, bool], None]  # close(number, merged)
    broken: Callable[[], Forge]  # the same forge with its backing store out of reach


@pytest.fixture(scope="module")
def swappable() -> Iterator[tuple[SwappableApp, UvicornThread]]:
    app = SwappableApp()
    with UvicornThread(app) as server:
        yield app, server


def local_world(tmp_path: Path) -> World:
    bare = make_target_repo(tmp_path, BACKLOG, {"docs/a.md": "a\n", "docs/keep.md": "k\n"})
    forge = LocalForge(bare, tmp_path / "store")

    def push(
        branch: str, files: dict[str, str | None], renames: dict[str, str] | None = None
    ) -> None:
        commit_files(bare, files, branch=branch, renames=renames)

    def broken() -> Forge:
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        return LocalForge(tmp_path / "missing.git", blocker / "store")

    def point(branch: str) -> None:
        git("branch", "-f", branch, "main", cwd=bare)

    def close(number: int, merged: bool) -> None:
        forge.close_pull_request(number, merged)

    return World("local", forge, push, point, close, broken)


def github_world(tmp_path: Path, swappable: tuple[SwappableApp, UvicornThread]) -> World:
    root = tmp_path / "git-root"
    make_target_repo(root / "acme", BACKLOG, {"docs/a.md": "a\n", "docs/keep.md": "k\n"})
    app = ForgeApp(root, TOKEN, [REPO], strict=True)
    swappable[0].app = app
    url = swappable[1].url
    remote = f"{url}/{REPO}.git"
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    auth = ("-c", f"http.extraHeader=Authorization: Basic {basic}")
    scratch = tmp_path / "pusher.git"
    git(*auth, "clone", "-q", "--bare", remote, str(scratch))
    forge = GitHubForge(REPO, TOKEN, api_url=f"{url}{API_PREFIX}", per_page=2, retries=0)

    def send(branch: str, source: str) -> None:
        git(*auth, "push", "-q", "--force", remote, f"{source}:refs/heads/{branch}", cwd=scratch)

    def push(
        branch: str, files: dict[str, str | None], renames: dict[str, str] | None = None
    ) -> None:
        git("update-ref", "-d", f"refs/heads/{branch}", cwd=scratch)  # start again from main
        commit_files(scratch, files, branch=branch, renames=renames)
        send(branch, f"refs/heads/{branch}")

    def close(number: int, merged: bool) -> None:
        if merged:  # merging is an endpoint the fake does not serve: GitHub's own doing
            app.api.set_pull_state(REPO, number, "closed", merged=True)
            return
        headers = {"Authorization": f"token {TOKEN}"}
        path = f"{url}{API_PREFIX}/repos/{REPO}/pulls/{number}"
        assert httpx.patch(path, json={"state": "closed"}, headers=headers).status_code == 200

    def broken() -> Forge:
        return GitHubForge(REPO, TOKEN, api_url=f"http://127.0.0.1:{free_port()}", retries=0)

    return World("github", forge, push, lambda b: send(b, "refs/heads/main"), close, broken)


@pytest.fixture(params=["local", "github"])
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    swappable: tuple[SwappableApp, UvicornThread],
) -> World:
    if request.param == "local":
        return local_world(tmp_path)
    return github_world(tmp_path, swappable)


def open_pr(world: World, branch: str = BRANCH, title: str = "Fix docs") -> int:
    world.push(branch, {f"docs/{branch.replace('/', '-')}.md": "new\n"})
    return world.forge.create_pull_request(
        branch=branch, base="main", title=title, body="evidence"
    ).number


# ---- reading -----------------------------------------------------------------------------
def test_a_new_repository_has_no_open_agent_prs(world: World) -> None:
    assert world.forge.open_agent_prs() == []


def test_a_created_pr_is_open_listed_and_readable(world: World) -> None:
    world.push(BRANCH, {"docs/a.md": "changed\n"})
    info = world.forge.create_pull_request(
        branch=BRANCH, base="main", title="Fix docs", body="evidence"
    )
    assert info.number >= 1 and info.url
    assert (info.branch, info.base, info.title, info.state) == (BRANCH, "main", "Fix docs", "open")
    assert (info.task_id, info.attempt_id) == ("fix-docs", "attempt-fix-docs-0a1b2c3d")
    assert world.forge.open_agent_prs() == [info]
    assert world.forge.get_pull_request(info.number) == info


def test_only_open_prs_from_agent_branches_are_listed(world: World) -> None:
    numbers = {b: open_pr(world, b) for b in ("agent/one", "agent/two", "feature/three")}
    world.close(numbers["agent/two"], False)
    assert [p.branch for p in world.forge.open_agent_prs()] == ["agent/one"]
    assert world.forge.get_pull_request(numbers["agent/two"]).state == "closed"
    assert world.forge.get_pull_request(numbers["feature/three"]).state == "open"


def test_a_merged_pr_reads_as_merged_and_leaves_the_list(world: World) -> None:
    number = open_pr(world)
    world.close(number, True)
    assert world.forge.get_pull_request(number).state == "merged"
    assert world.forge.open_agent_prs() == []


def test_the_list_holds_every_open_agent_pr_across_pages(world: World) -> None:
    numbers = {open_pr(world, f"agent/task-{n}") for n in range(5)}  # GitHub: 2 a page
    assert {p.number for p in world.forge.open_agent_prs()} == numbers


def test_files_are_the_branch_changes_with_both_sides_of_a_rename(world: World) -> None:
    world.push(
        BRANCH,
        {"docs/new.md": "n\n", "docs/keep.md": None},
        renames={"docs/a.md": "notes/a.md"},
    )
    info = world.forge.create_pull_request(branch=BRANCH, base="main", title="T", body="")
    assert sorted(world.forge.pull_request_files(info.number)) == [
        "docs/a.md",
        "docs/keep.md",
        "docs/new.md",
        "notes/a.md",
    ]


# ---- creating ---------------------------------------------------------------------------
def test_a_second_create_returns_the_open_pr_instead_of_a_duplicate(world: World) -> None:
    world.push(BRANCH, {"docs/a.md": "changed\n"})
    first = world.forge.create_pull_request(branch=BRANCH, base="main", title="T", body="B")
    again = world.forge.create_pull_request(branch=BRANCH, base="main", title="T2", body="B2")
    assert again == first
    assert world.forge.open_agent_prs() == [first]


def test_after_a_close_the_same_branch_opens_a_new_pr(world: World) -> None:
    first = open_pr(world)
    world.close(first, False)
    second = world.forge.create_pull_request(branch=BRANCH, base="main", title="T", body="B")
    assert second.number != first and second.state == "open"
    assert world.forge.open_agent_prs() == [second]
    assert world.forge.get_pull_request(first).state == "closed"


def test_create_is_rejected_for_what_cannot_become_a_pr(world: World) -> None:
    world.point("agent/empty")
    world.push("agent/ok", {"docs/x.md": "x\n"})
    attempts = [
        ("agent/missing", "main"),  # no such branch
        ("agent/empty", "main"),  # no commits between main and the branch
        ("agent/ok", "develop"),  # no such base
        ("-x", "main"),  # not a branch name
    ]
    for branch, base in attempts:
        with pytest.raises(ForgeRejected):
            world.forge.create_pull_request(branch=branch, base=base, title="T", body="")
    assert world.forge.open_agent_prs() == []


def test_a_pr_that_does_not_exist_is_rejected(world: World) -> None:
    with pytest.raises(ForgeRejected):
        world.forge.get_pull_request(99)
    with pytest.raises(ForgeRejected):
        world.forge.pull_request_files(99)


# ---- branches ------------------------------------------------------------------------------
def test_delete_branch_is_true_once_then_false(world: World) -> None:
    world.push(BRANCH, {"docs/a.md": "changed\n"})
    assert world.forge.delete_branch(BRANCH) is True
    assert world.forge.delete_branch(BRANCH) is False
    with pytest.raises(ForgeRejected):  # gone: nothing to open a PR from
        world.forge.create_pull_request(branch=BRANCH, base="main", title="T", body="")


def test_the_default_branch_is_not_deleted(world: World) -> None:
    with pytest.raises(ForgeRejected):
        world.forge.delete_branch("main")
    world.push(BRANCH, {"docs/a.md": "changed\n"})
    assert world.forge.create_pull_request(branch=BRANCH, base="main", title="T", body="")


def test_deleting_the_head_of_an_open_pr_closes_it(world: World) -> None:
    number = open_pr(world)
    assert world.forge.delete_branch(BRANCH) is True
    assert world.forge.get_pull_request(number).state == "closed"
    assert world.forge.open_agent_prs() == []


# ---- failures ------------------------------------------------------------------------------
def test_a_forge_out_of_reach_is_unavailable_for_every_call(world: World) -> None:
    forge = world.broken()
    calls: list[Callable[[], object]] = [
        forge.open_agent_prs,
        lambda: forge.get_pull_request(1),
        lambda: forge.create_pull_request(branch=BRANCH, base="main", title="T", body=""),
        lambda: forge.pull_request_files(1),
        lambda: forge.delete_branch(BRANCH),
    ]
    for call in calls:
        with pytest.raises(ForgeUnavailable):
            call()


def test_a_draft_with_labels_and_reviewers_is_accepted_by_both(world: World) -> None:
    world.push(BRANCH, {"docs/a.md": "changed\n"})
    info = world.forge.create_pull_request(
        branch=BRANCH, base="main", title="Fix docs", body="evidence", draft=True
    )
    options = PullRequestOptions(labels=["leviathan"], reviewers=["octocat"])
    assert world.forge.decorate_pull_request(info.number, options) == []
    assert world.forge.decorate_pull_request(info.number, options) == []  # again: harmless
    assert world.forge.open_agent_prs() == [info]
