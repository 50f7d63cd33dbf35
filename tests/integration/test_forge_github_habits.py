"""A team's habits through the real PyGithub against the fake: draft, labels, reviewers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.github_fake import GitHubFake
from tests.support.servers import UvicornThread

from leviathan_adapters.forge.github import GitHubForge
from leviathan_core.pr_options import PullRequestOptions

TOKEN = "ghp_fake_token_for_habits"
REPO = "acme/site"
BRANCH = "agent/backlog-propose-attempt-t1-0a1b2c3d"


@pytest.fixture
def fake() -> Iterator[tuple[GitHubFake, GitHubForge]]:
    fake = GitHubFake(token=TOKEN)
    fake.add_repo(REPO)
    fake.push_branch(REPO, BRANCH)
    with UvicornThread(fake.app) as server:
        yield fake, GitHubForge(REPO, TOKEN, api_url=server.url)


def posts(fake: GitHubFake, tail: str) -> list[int]:
    return [r.status for r in fake.requests if r.method == "POST" and r.path.endswith(tail)]


def test_a_draft_pull_request_is_opened_as_a_draft(fake: tuple[GitHubFake, GitHubForge]) -> None:
    github, forge = fake
    pr = forge.create_pull_request(branch=BRANCH, base="main", title="t", body="b", draft=True)
    assert github.pulls[REPO][0].draft is True
    assert forge._github.get_repo(REPO).get_pull(pr.number).draft is True


def test_a_plain_pull_request_is_not_a_draft(fake: tuple[GitHubFake, GitHubForge]) -> None:
    github, forge = fake
    forge.create_pull_request(branch=BRANCH, base="main", title="t", body="b")
    assert github.pulls[REPO][0].draft is False


def test_missing_labels_are_created_and_all_are_added(fake: tuple[GitHubFake, GitHubForge]) -> None:
    github, forge = fake
    github.add_label(REPO, "Docs", "0052cc")  # GitHub matches label names without case
    pr = forge.create_pull_request(branch=BRANCH, base="main", title="t", body="b")
    options = PullRequestOptions(labels=["docs", "leviathan"], label_color="0E8A16")

    assert forge.decorate_pull_request(pr.number, options) == []

    assert github.label_colors[REPO] == {"Docs": "0052cc", "leviathan": "0e8a16"}
    assert github.pulls[REPO][0].labels == ["Docs", "leviathan"]
    assert posts(github, "/labels") == [201, 200]  # one label created, then both added
    assert forge.decorate_pull_request(pr.number, options) == []  # again: no change
    assert github.pulls[REPO][0].labels == ["Docs", "leviathan"]


def test_reviewers_and_teams_are_requested(fake: tuple[GitHubFake, GitHubForge]) -> None:
    github, forge = fake
    pr = forge.create_pull_request(branch=BRANCH, base="main", title="t", body="b")
    options = PullRequestOptions(reviewers=["octocat", "hubot"], team_reviewers=["docs-team"])

    assert forge.decorate_pull_request(pr.number, options) == []

    pull = github.pulls[REPO][0]
    assert (pull.reviewers, pull.teams) == (["octocat", "hubot"], ["docs-team"])
    assert posts(github, "/requested_reviewers") == [201]
    assert forge.get_pull_request(pr.number).state == "open"  # the full form, schema-checked


def test_a_refused_reviewer_costs_neither_the_labels_nor_the_pr(
    fake: tuple[GitHubFake, GitHubForge],
) -> None:
    github, forge = fake
    github.set_collaborators(REPO, "octocat")
    pr = forge.create_pull_request(branch=BRANCH, base="main", title="t", body="b")
    options = PullRequestOptions(labels=["leviathan"], reviewers=["octocat", "stranger"])

    [problem] = forge.decorate_pull_request(pr.number, options)

    assert "GitHub answered 422 while requesting reviews on pull request #1" in problem
    assert "Reviews may only be requested from collaborators" in problem
    assert TOKEN not in problem
    pull = github.pulls[REPO][0]
    assert (pull.labels, pull.reviewers, pull.state) == (["leviathan"], [], "open")
