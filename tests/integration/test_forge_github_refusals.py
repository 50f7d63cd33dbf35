"""What GitHub refuses, and how Leviathan ends when it does: real PyGithub against the fake.

Each case is GitHub's documented behaviour that the fake once accepted: a PR
body over 65,536 characters, rate limits signalled by status and headers
rather than by one wording, a token that cannot see or write the repository,
and a deleted head branch closing its PR.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest
from github import Auth, Github
from github.GithubException import GithubException
from github.Repository import Repository
from tests.support.github_fake import GitHubFake, SwappableApp
from tests.support.github_shapes import MAX_BODY
from tests.support.scheduler_fakes import make_world
from tests.support.servers import UvicornThread

from leviathan_adapters import slots
from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.github import GitHubForge
from leviathan_core.backlog import parse_task
from leviathan_core.config import AutonomyConfig
from leviathan_core.events import EventType, new_event
from leviathan_scheduler.cycle import run_cycle
from leviathan_scheduler.reconciler import reconcile
from leviathan_worker.evidence import Evidence, pr_body

TOKEN = "ghp_fake_token_for_refusals"
REPO = "acme/site"
ACCESS = "check the token's access to the repository"
BACKLOG = """
tasks:
  - id: fix-links
    title: Fix broken links
    ready: true
    allowed_paths: [docs/README.md]
"""


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
def forge(fake: GitHubFake, swappable: tuple[SwappableApp, UvicornThread]) -> GitHubForge:
    return GitHubForge(REPO, TOKEN, api_url=swappable[1].url)


def plain_repo(forge: GitHubForge) -> Repository:
    gh = Github(
        base_url=forge.api_url,
        auth=Auth.Token(TOKEN),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    return gh.get_repo(REPO)


# ---- a PR body over 65,536 characters ---------------------------------------
def test_the_fake_refuses_a_body_over_githubs_limit(fake: GitHubFake, forge: GitHubForge) -> None:
    fake.push_branch(REPO, "agent/long")
    repo = plain_repo(forge)
    with pytest.raises(GithubException) as raised:
        repo.create_pull(base="main", head="agent/long", title="T", body="x" * (MAX_BODY + 1))
    assert raised.value.status == 422
    assert raised.value.data["errors"][0] == {
        "resource": "Issue",
        "code": "custom",
        "field": "body",
        "message": "body is too long (maximum is 65536 characters)",
    }
    pull = repo.create_pull(base="main", head="agent/long", title="T", body="x" * MAX_BODY)
    assert pull.number == 1


def huge_evidence(paths: int) -> Evidence:
    task = parse_task(
        0,
        {
            "id": "huge",
            "title": "T" * 100_000,
            "scope": "s" * 10_000,
            "allowed_paths": [f"docs/{i:05}-{'a' * 200}/" for i in range(2_000)],
            "acceptance_criteria": [f"criterion {i} " + "c" * 5_000 for i in range(200)],
        },
    )
    assert task.problem is None, task.problem
    changed = [f"docs/{i:05}-{'p' * 300}.md" for i in range(paths)]
    return Evidence(task, "huge", "attempt-huge-0a1b2c3d", 3, agent_branch("huge", 1),
                    "docs-template", changed, "passed", "http://cp/v1/attempts/a")  # fmt: skip


def test_a_bounded_evidence_body_opens_its_pr(fake: GitHubFake, forge: GitHubForge) -> None:
    """Thousands of changed paths and long criteria: the PR still opens on GitHub."""
    branch = agent_branch("huge", 1)
    fake.push_branch(REPO, branch)
    body = pr_body(huge_evidence(3_000))
    created = forge.create_pull_request(branch=branch, base="main", title="T", body=body)
    assert fake.pulls[REPO][0].body == body
    assert created.state == "open"
    assert "more (see the commit)" in body


# ---- rate limits, from the status and headers --------------------------------
RATE_LIMITS = [
    pytest.param("primary", 403, "Rate limit reached for this token.", id="403-remaining-0"),
    pytest.param("primary", 429, None, id="429-remaining-0"),
    pytest.param("limit429", None, "Too Many Requests", id="429-alone"),
    pytest.param("secondary", 403, "Content creation is being throttled.", id="403-retry-after"),
]


@pytest.mark.parametrize(("kind", "status", "message"), RATE_LIMITS)
def test_rate_limits_are_read_from_status_and_headers(
    fake: GitHubFake, forge: GitHubForge, kind: str, status: int | None, message: str | None
) -> None:
    branch = agent_branch("rl", 1)
    fake.push_branch(REPO, branch)
    fake.retry_after = 3600
    fake.inject(kind, times=None, status=status, message=message)  # type: ignore[arg-type]
    with pytest.raises(ForgeUnavailable, match="rate limit"):
        forge.open_agent_prs()
    with pytest.raises(ForgeUnavailable, match="rate limit"):
        forge.create_pull_request(branch=branch, base="main", title="T", body="B")
    assert len(fake.requests) == 2  # never retried, never waited out
    assert fake.pulls[REPO] == []


# ---- a token that cannot see or write the repository -------------------------
def test_a_private_repository_the_token_cannot_see(fake: GitHubFake, forge: GitHubForge) -> None:
    number = fake.add_pull(REPO, agent_branch("p", 1)).number
    fake.set_access(REPO, "none")
    calls: list[Callable[[], object]] = [
        forge.open_agent_prs,
        lambda: forge.get_pull_request(number),
        lambda: forge.pull_request_files(number),
        lambda: forge.create_pull_request(
            branch=agent_branch("p", 1), base="main", title="T", body="B"
        ),
        lambda: forge.delete_branch(agent_branch("p", 1)),
    ]
    for call in calls:
        with pytest.raises(ForgeUnavailable, match=ACCESS) as raised:
            call()
        assert "404" in str(raised.value) and REPO in str(raised.value)
        assert TOKEN not in str(raised.value)


def test_a_missing_pull_request_in_a_visible_repository_is_still_404(
    forge: GitHubForge,
) -> None:
    with pytest.raises(ForgeRejected, match="404") as raised:
        forge.get_pull_request(999)
    assert ACCESS not in str(raised.value)


@pytest.mark.parametrize("kind", ["personal access token", "integration"])
def test_a_token_that_may_only_read(fake: GitHubFake, forge: GitHubForge, kind: str) -> None:
    branch = agent_branch("r", 1)
    fake.push_branch(REPO, branch)
    fake.set_access(REPO, "read")
    fake.token_kind = kind
    assert forge.open_agent_prs() == []
    with pytest.raises(ForgeUnavailable, match=ACCESS) as raised:
        forge.create_pull_request(branch=branch, base="main", title="T", body="B")
    text = str(raised.value)
    assert f"Resource not accessible by {kind}" in text
    assert "pull_requests=write" in text
    with pytest.raises(ForgeUnavailable, match="contents=write"):
        forge.delete_branch(branch)


def test_the_scheduler_skips_with_the_access_message(fake: GitHubFake, forge: GitHubForge) -> None:
    fake.set_access(REPO, "none")
    world = make_world(BACKLOG)
    config = AutonomyConfig(target_id="radix", target_repo_url=f"https://github.com/{REPO}.git")
    outcome = run_cycle(config, dataclasses.replace(world.deps, forge=forge))
    assert (outcome.status, outcome.reason) == ("skipped", "fact_unavailable:forge")
    assert outcome.decision is not None
    assert any(ACCESS in m for m in outcome.decision.messages)


# ---- a deleted head branch closes its PR --------------------------------------
def test_deleting_the_head_branch_closes_the_pr(fake: GitHubFake, forge: GitHubForge) -> None:
    branch = agent_branch("gone", 1)
    number = fake.add_pull(REPO, branch).number
    other = fake.add_pull(REPO, agent_branch("kept", 2)).number
    assert forge.delete_branch(branch) is True
    assert forge.get_pull_request(number).state == "closed"
    assert forge.get_pull_request(other).state == "open"
    assert [p.number for p in forge.open_agent_prs()] == [other]


def test_the_reconciler_frees_the_slot_of_a_pr_closed_by_its_branch(
    fake: GitHubFake, forge: GitHubForge
) -> None:
    world = make_world(BACKLOG)
    deps = dataclasses.replace(world.deps, forge=forge)
    config = AutonomyConfig(target_id="radix", target_repo_url=f"https://github.com/{REPO}.git")
    outcome = run_cycle(config, deps)
    attempt_id = outcome.attempt_id
    assert attempt_id is not None
    branch = f"agent/backlog-propose-{attempt_id}"
    number = fake.add_pull(REPO, branch).number
    for kind, payload in (
        (EventType.PR_CREATED, {"pr_number": number, "pr_url": "u", "branch": branch}),
        (EventType.ATTEMPT_SUCCEEDED, {}),
    ):
        world.control_plane.post_event(
            new_event(
                kind,
                target_id="radix",
                actor="worker",
                attempt_id=attempt_id,
                task_id="fix-links",
                payload=payload,
            )
        )
    world.executor.runs[attempt_id] = "succeeded"
    assert reconcile(config, deps).renewed_pr == [attempt_id]
    fake.delete_branch(REPO, branch)  # a push deleting it, or a person on github.com
    report = reconcile(config, deps)
    assert report.closed_prs == [number]
    assert report.released_pr == [attempt_id]
    (closed,) = world.control_plane.of_type(EventType.PR_CLOSED)
    assert closed.payload["state"] == "closed"
    assert slots.holders(world.redis, "radix").pr == {}
