"""PRs that fit a team's habits, opened by the real worker flow on GitHub and offline.

GitHub: real PyGithub against the fake, git over smart HTTP. Offline: the
local forge of ``make run``, which records the same options.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.control_plane import ControlPlane, control_plane  # noqa: F401
from tests.support.git_http import GitHttpServer
from tests.support.github_fake import GitHubFake
from tests.support.gitrepo import git
from tests.support.servers import UvicornThread
from tests.support.worker_harness import BACKLOG, TASK, WorkerHarness, attempt_id_for

from leviathan_adapters.forge.github import GitHubForge

TOKEN = "ghp_leviathan_habits_token_0123456789"
REPO = "acme/target"
# The demo backlog, with its first task naming two issues (and a line to find).
ISSUES_BACKLOG = BACKLOG.replace(
    "    priority: high\n", "    priority: high\n    issues: [123, 456]\n"
)
OPTIONS: dict[str, Any] = {
    "labels": ["leviathan", "docs"],
    "label_color": "5319e7",
    "reviewers": ["octocat"],
    "team_reviewers": ["docs-team"],
    "draft": True,
    "link_task": True,
    "body_template": (
        "Task {task_id}: {title}\n\n{criteria}\n\nAttempt {attempt_id} on {branch}.\n\n"
        "Backlog: {task_link}\n\n<details>\n\n{summary}\n\n</details>\n"
    ),
}


@pytest.fixture
def github(
    tmp_path: Path,
    control_plane: ControlPlane,  # noqa: F811
) -> Iterator[tuple[WorkerHarness, GitHubFake, str, str]]:
    root = tmp_path / "git-root"
    harness = WorkerHarness(tmp_path, control_plane, backlog=ISSUES_BACKLOG,
                            repo_parent=root / "acme")  # fmt: skip
    fake = GitHubFake(token=TOKEN)
    fake.git_root = root  # learns the pushed branch's files, as GitHub does
    fake.add_repo(REPO)
    with UvicornThread(fake.app) as api, UvicornThread(GitHttpServer(root, TOKEN).app) as http:
        yield harness, fake, f"{http.url}/acme/target.git", api.url


def run_on_github(
    setup: tuple[WorkerHarness, GitHubFake, str, str], options: dict[str, Any]
) -> tuple[int, str]:
    harness, _fake, repo_url, api_url = setup
    config = harness.config(forge="github", target_repo_url=repo_url, github_api_url=api_url,
                            pull_request=options)  # fmt: skip
    return harness.run(
        attempt_id_for(TASK), config=config, forge=GitHubForge(REPO, TOKEN, api_url=api_url),
        github_token=TOKEN, token_required=True,
    )  # fmt: skip


def task_line_in(harness: WorkerHarness, ref: str) -> int:
    text = git("show", f"{ref}:.leviathan/backlog.yaml", cwd=harness.bare)
    return text.splitlines().index(f"  - id: {TASK}   # the one to pick") + 1


def test_every_habit_on_github(github: tuple[WorkerHarness, GitHubFake, str, str]) -> None:
    harness, fake, repo_url, _ = github
    code, output = run_on_github(github, OPTIONS)

    assert code == 0, output
    [pull] = fake.pulls[REPO]
    branch = f"agent/backlog-propose-{attempt_id_for(TASK)}"
    sha = git("rev-parse", branch, cwd=harness.bare)
    line = task_line_in(harness, branch)
    body = pull.body or ""
    assert body.startswith(f"Task {TASK}: Fix broken links in README\n\n- [ ] Every link in")
    assert f"Attempt {attempt_id_for(TASK)} on {branch}." in body
    link = f"{repo_url.removesuffix('.git')}/blob/{sha}/.leviathan/backlog.yaml#L{line}"
    assert f"Backlog: {link}\n" in body
    assert "<details>\n\nLeviathan opened this pull request for task" in body  # the summary
    assert body.rstrip().endswith("Closes #123\nCloses #456")  # placed after the template
    assert pull.draft is True
    assert pull.labels == ["leviathan", "docs"]
    assert fake.label_colors[REPO] == {"leviathan": "5319e7", "docs": "5319e7"}
    assert (pull.reviewers, pull.teams) == (["octocat"], ["docs-team"])
    assert "✓ Labels: leviathan, docs" in output
    assert "✓ Reviews requested: octocat, team docs-team" in output


def test_no_options_keep_todays_body_plus_the_closing_lines(
    github: tuple[WorkerHarness, GitHubFake, str, str],
) -> None:
    _, fake, _, _ = github
    code, output = run_on_github(github, {})

    assert code == 0, output
    [pull] = fake.pulls[REPO]
    body = pull.body or ""
    assert body.startswith(f"Leviathan opened this pull request for task `{TASK}`.")
    assert "/blob/" not in body
    assert body.endswith("\n\nCloses #123\nCloses #456\n")
    assert (pull.draft, pull.labels, pull.reviewers) == (False, [], [])
    no_habits = [r for r in fake.requests if "/labels" in r.path or "requested_" in r.path]
    assert no_habits == []


def test_a_refused_reviewer_leaves_the_pr_open_and_says_why(
    github: tuple[WorkerHarness, GitHubFake, str, str],
) -> None:
    harness, fake, _, _ = github
    fake.set_collaborators(REPO, "octocat")
    code, output = run_on_github(github, {"reviewers": ["stranger"], "close_issues": False})

    assert code == 0, output
    assert "! PR #1: GitHub answered 422 while requesting reviews" in output
    assert "Closes #" not in (fake.pulls[REPO][0].body or "")
    assert harness.event_types(attempt_id_for(TASK))[-1] == "attempt.succeeded"


def test_the_local_forge_records_the_same_options(
    tmp_path: Path,
    control_plane: ControlPlane,  # noqa: F811
) -> None:
    harness = WorkerHarness(tmp_path, control_plane, backlog=ISSUES_BACKLOG)
    code, output = harness.run(attempt_id_for(TASK), config=harness.config(pull_request=OPTIONS))

    assert code == 0, output
    forge = harness.local_forge()
    [pr] = forge.list_pull_requests()
    assert forge.pull_request_habits(pr.number) == {
        "draft": True,
        "labels": ["leviathan", "docs"],
        "reviewers": ["octocat"],
        "team_reviewers": ["docs-team"],
    }
    view = (harness.forge_dir / "pulls" / str(pr.number)).read_text()
    assert f"Task {TASK}: Fix broken links in README" in view
    assert "Closes #123\nCloses #456" in view
