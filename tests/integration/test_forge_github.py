"""GitHubForge with the real PyGithub against the GitHub fake over a socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github import Auth, Github
from tests.support.github_fake import GitHubFake, SwappableApp
from tests.support.servers import UvicornThread

from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.github import GitHubForge

TOKEN = "ghp_fake_token_for_tests"
REPO = "acme/site"


def agent_branch(task: str, n: int) -> str:
    return f"agent/backlog-propose-attempt-{task}-{n:08x}"


@pytest.fixture(scope="module")
def swappable() -> Iterator[tuple[SwappableApp, UvicornThread]]:
    app = SwappableApp()
    with UvicornThread(app) as server:
        yield app, server


@pytest.fixture
def fake(swappable: tuple[SwappableApp, UvicornThread]) -> GitHubFake:
    fake = GitHubFake(token=TOKEN)
    fake.add_repo(REPO)
    swappable[0].app = fake.app
    return fake


@pytest.fixture
def server(fake: GitHubFake, swappable: tuple[SwappableApp, UvicornThread]) -> UvicornThread:
    return swappable[1]


def forge_for(server: UvicornThread, **kwargs: object) -> GitHubForge:
    return GitHubForge(REPO, TOKEN, api_url=server.url, **kwargs)  # type: ignore[arg-type]


def seed_mixed(fake: GitHubFake) -> set[int]:
    """120 PRs, 72 open: agent/ open, closed and merged, non-agent, a fork's agent/ branch."""
    expected = set()
    for n in range(120):
        kind = n % 5
        if kind == 0:
            expected.add(fake.add_pull(REPO, agent_branch(f"task-{n}", n)).number)
        elif kind == 1:
            fake.add_pull(REPO, agent_branch(f"task-{n}", n), state="closed")
        elif kind == 2:
            fake.add_pull(REPO, agent_branch(f"task-{n}", n), state="closed", merged=True)
        elif kind == 3:
            fake.add_pull(REPO, f"feature/{n}")
        else:
            fake.add_pull(REPO, agent_branch(f"fork-{n}", n), head_repo="mallory/site")
    return expected


def test_counts_open_agent_prs_across_pages(fake: GitHubFake, server: UvicornThread) -> None:
    expected = seed_mixed(fake)
    forge = forge_for(server, per_page=30)
    prs = forge.open_agent_prs()
    assert {p.number for p in prs} == expected
    assert all(p.state == "open" and p.branch.startswith("agent/") for p in prs)
    first = next(p for p in prs if p.number == 1)
    assert (first.task_id, first.attempt_id) == ("task-0", f"attempt-task-0-{0:08x}")
    pages = [r.query.get("page", "1") for r in fake.requests if r.path.endswith("/pulls")]
    assert pages == ["1", "2", "3"]  # 72 open PRs at 30 a page, following Link rel=next


def test_idle_tick_is_answered_by_304s_at_no_rate_limit_cost(
    fake: GitHubFake, server: UvicornThread
) -> None:
    seed_mixed(fake)
    forge = forge_for(server, per_page=30)
    first = forge.open_agent_prs()
    counted = len(fake.counted())
    again = forge.open_agent_prs()
    assert again == first
    assert len(fake.counted()) == counted
    assert [r.status for r in fake.requests[-3:]] == [304, 304, 304]
    assert all(r.if_none_match for r in fake.requests[-3:])
    assert forge.stats.not_modified == 3
    assert forge.rate_limit == (fake.rate_remaining, fake.rate_limit)


def test_a_change_is_seen_after_cached_pages(fake: GitHubFake, server: UvicornThread) -> None:
    seed_mixed(fake)
    forge = forge_for(server, per_page=30)
    before = {p.number for p in forge.open_agent_prs()}
    fake.set_pull_state(REPO, 1, "closed")
    new = fake.add_pull(REPO, agent_branch("late", 999)).number
    after = {p.number for p in forge.open_agent_prs()}
    assert after == (before - {1}) | {new}


@pytest.mark.parametrize("kind", ["secondary", "primary", "abuse429"])
def test_rate_limits_fail_fast_as_unavailable(
    fake: GitHubFake, server: UvicornThread, kind: str
) -> None:
    fake.add_pull(REPO, agent_branch("a", 1))
    fake.retry_after = 3600  # a client that honoured it would hang the test
    fake.inject(kind, times=None)  # type: ignore[arg-type]
    with pytest.raises(ForgeUnavailable, match="rate limit") as raised:
        forge_for(server).open_agent_prs()
    assert len(fake.requests) == 1  # no retry, no sleep
    assert TOKEN not in str(raised.value)


def test_exhausted_primary_limit_is_reported_by_the_fake_itself(
    fake: GitHubFake, server: UvicornThread
) -> None:
    fake.rate_remaining = 0
    with pytest.raises(ForgeUnavailable, match="primary rate limit"):
        forge_for(server).open_agent_prs()


def test_persistent_5xx_is_unavailable_after_bounded_retries(
    fake: GitHubFake, server: UvicornThread
) -> None:
    seed_mixed(fake)
    fake.inject("server_error", times=None, match="page=2", status=503)
    with pytest.raises(ForgeUnavailable, match="503"):
        forge_for(server, per_page=30, retries=1).open_agent_prs()
    assert sum(1 for r in fake.requests if r.query.get("page") == "2") == 2


def test_a_transient_5xx_is_retried(fake: GitHubFake, server: UvicornThread) -> None:
    expected = seed_mixed(fake)
    fake.inject("server_error", times=1)
    assert {p.number for p in forge_for(server).open_agent_prs()} == expected
    assert [r.status for r in fake.requests] == [502, 200]


def test_bad_credentials_are_unavailable_without_leaking_the_token(
    server: UvicornThread,
) -> None:
    wrong = "ghp_wrong_token_value"
    with pytest.raises(ForgeUnavailable, match="GITHUB_TOKEN") as raised:
        GitHubForge(REPO, wrong, api_url=server.url).open_agent_prs()
    assert wrong not in str(raised.value)
    with pytest.raises(ForgeUnavailable, match="401"):
        GitHubForge(REPO, None, api_url=server.url).open_agent_prs()


def test_a_malformed_answer_is_unavailable(fake: GitHubFake, server: UvicornThread) -> None:
    fake.inject("malformed")
    with pytest.raises(ForgeUnavailable, match="not a list"):
        forge_for(server).open_agent_prs()
    fake.add_pull(REPO, agent_branch("m", 1))
    fake.inject("malformed")
    with pytest.raises(ForgeUnavailable, match="unexpected KeyError"):
        forge_for(server).get_pull_request(1)


def test_unreachable_github_is_unavailable() -> None:
    forge = GitHubForge(REPO, TOKEN, api_url="http://127.0.0.1:9", retries=0)
    with pytest.raises(ForgeUnavailable, match="cannot reach GitHub"):
        forge.open_agent_prs()


def test_unknown_repository_is_unavailable_for_reads(server: UvicornThread) -> None:
    with pytest.raises(ForgeUnavailable, match="404"):
        GitHubForge("acme/nope", TOKEN, api_url=server.url).open_agent_prs()


def test_create_is_idempotent_per_branch(fake: GitHubFake, server: UvicornThread) -> None:
    branch = agent_branch("docs", 7)
    fake.push_branch(REPO, branch)
    forge = forge_for(server)
    created = forge.create_pull_request(branch=branch, base="main", title="T", body="B")
    again = forge.create_pull_request(branch=branch, base="main", title="T", body="B")
    assert again == created
    assert created.url == f"{server.url}/{REPO}/pull/{created.number}"
    assert (created.task_id, created.state) == ("docs", "open")
    assert len(fake.pulls[REPO]) == 1
    assert [r.status for r in fake.requests if r.method == "POST"] == [201, 422]


@pytest.mark.parametrize(("branch", "words"), [("agent/missing", "head invalid")])
def test_create_for_a_missing_branch_is_rejected(
    server: UvicornThread, branch: str, words: str
) -> None:
    with pytest.raises(ForgeRejected, match=words):
        forge_for(server).create_pull_request(branch=branch, base="main", title="T", body="B")


def test_create_during_a_secondary_limit_is_unavailable(
    fake: GitHubFake, server: UvicornThread
) -> None:
    fake.push_branch(REPO, "agent/x")
    fake.inject("secondary")
    with pytest.raises(ForgeUnavailable):
        forge_for(server).create_pull_request(branch="agent/x", base="main", title="T", body="")
    assert fake.pulls[REPO] == []


def test_pull_request_states(fake: GitHubFake, server: UvicornThread) -> None:
    forge = forge_for(server)
    number = fake.add_pull(REPO, agent_branch("s", 1)).number
    assert forge.get_pull_request(number).state == "open"
    assert forge.get_pull_request(number).state == "open"  # answered by a 304
    fake.set_pull_state(REPO, number, "closed")
    assert forge.get_pull_request(number).state == "closed"
    fake.set_pull_state(REPO, number, "closed", merged=True)
    assert forge.get_pull_request(number).state == "merged"
    assert [r.status for r in fake.requests] == [200, 304, 200, 200]
    with pytest.raises(ForgeRejected, match="404"):
        forge.get_pull_request(999)


def test_pull_request_files_pages_and_names_both_sides_of_renames(
    fake: GitHubFake, server: UvicornThread
) -> None:
    files = [{"filename": f"docs/f{i:03}.md", "status": "added"} for i in range(230)]
    files.append(
        {"filename": "docs/new.md", "status": "renamed", "previous_filename": "src/old.md"}
    )
    number = fake.add_pull(REPO, agent_branch("many", 2), files=files).number
    paths = forge_for(server).pull_request_files(number)
    assert len(paths) == 232
    assert paths[-2:] == ["src/old.md", "docs/new.md"]
    assert sum(1 for r in fake.requests if r.path.endswith("/files")) == 3


def test_delete_branch_is_idempotent(fake: GitHubFake, server: UvicornThread) -> None:
    fake.push_branch(REPO, "agent/gone")
    forge = forge_for(server)
    assert forge.delete_branch("agent/gone") is True
    assert forge.delete_branch("agent/gone") is False
    assert "agent/gone" not in fake.repos[REPO]


def test_github_enterprise_prefix() -> None:
    fake = GitHubFake(prefix="/api/v3", token=TOKEN)
    fake.add_repo(REPO)
    number = fake.add_pull(REPO, agent_branch("ghe", 3)).number
    with UvicornThread(fake.app) as server:
        forge = GitHubForge(REPO, TOKEN, api_url=f"{server.url}/api/v3")
        assert [p.number for p in forge.open_agent_prs()] == [number]
    assert fake.requests[0].path == f"/api/v3/repos/{REPO}/pulls"


def test_the_fake_is_faithful_to_plain_pygithub(fake: GitHubFake, server: UvicornThread) -> None:
    for n in range(75):
        fake.add_pull(REPO, f"feature/{n}")
    gh = Github(
        base_url=server.url,
        auth=Auth.Token(TOKEN),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    repo = gh.get_repo(REPO)
    assert repo.full_name == REPO
    pulls = repo.get_pulls(state="open")
    assert pulls.totalCount == 75  # needs rel="last"
    assert len(list(pulls)) == 75
    assert gh.rate_limiting[1] == 5000
    pull = repo.get_pull(3)
    assert pull.update() is False  # PyGithub's own conditional request: 304
    pull.edit(state="closed")
    assert pull.update() is True
    assert pull.state == "closed"
    assert [r.status for r in fake.requests[-4:]] == [200, 304, 200, 200]
