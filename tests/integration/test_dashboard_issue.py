"""The dashboard issue on the GitHub fake through real PyGithub: created once, written
only when its content changes, found again after a restart, and never a reason
for a cycle to fail or decide otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from tests.support.dashboard_stack import TOKEN, DashboardStack, dashboard_stack

from leviathan_core.constants import dashboard_key, paused_key
from leviathan_core.dashboard import boxes, marker


@pytest.fixture
def board(tmp_path: Path, redis_url: str) -> Iterator[DashboardStack]:
    with dashboard_stack(tmp_path, redis_url) as running:
        yield running


def test_the_issue_is_created_once_and_an_idle_tick_costs_nothing(board: DashboardStack) -> None:
    runtime = board.runtime()
    first = board.cycle(runtime)
    assert first.status == "dispatched"
    (issue,) = board.issues()
    assert issue.labels == ["leviathan-dashboard"]
    assert issue.title == "Leviathan dashboard: radix"
    assert marker("radix") in (issue.body or "")
    assert "| `fix-links` | Fix broken links | running | 1 of 2 |" in (issue.body or "")
    assert "Last cycle: dispatched `fix-links`" in (issue.body or "")
    assert board.writes() == [f"POST /repos/{board.repo}/issues"]

    second = board.cycle(runtime)  # the attempt runs: nothing new to show
    assert (second.status, second.reason) == ("skipped", "max_open_prs")
    (issue,) = board.issues()
    assert "`max_open_prs`" in (issue.body or "")
    written = len(board.writes())
    assert written == 2  # the decision changed: one PATCH

    third = board.cycle(runtime)  # reads the list our PATCH changed: one 200, no write
    assert third.reason == "max_open_prs"
    mark = len(board.github.requests)
    fourth = board.cycle(runtime)
    assert fourth.reason == "max_open_prs"
    assert len(board.writes()) == written  # neither a POST nor a PATCH
    idle = [r for r in board.github.requests[mark:] if "/issues" in r.path]
    assert [(r.method, r.status, r.counted) for r in idle] == [("GET", 304, False)]


def test_a_second_cycle_with_nothing_new_neither_creates_nor_edits(board: DashboardStack) -> None:
    paused = board.stack.invoke("pause", "--target", "radix", "--reason", "freeze")
    assert paused.exit_code == 0, paused.output
    runtime = board.runtime()
    assert board.cycle(runtime).reason == "paused"
    assert board.writes() == [f"POST /repos/{board.repo}/issues"]
    assert board.cycle(runtime).reason == "paused"
    assert board.writes() == [f"POST /repos/{board.repo}/issues"]
    assert len(board.issues()) == 1


def test_a_restarted_scheduler_finds_the_issue_again(board: DashboardStack) -> None:
    board.cycle(board.runtime())
    board.cycle(board.runtime())  # a new process: no ETag cache, same Redis
    restarted = board.runtime()
    board.cycle(restarted)
    assert len(board.issues()) == 1
    assert [w.split()[0] for w in board.writes()] == ["POST", "PATCH"]
    redis.Redis.from_url(board.stack.redis_url).delete(dashboard_key("radix"))
    board.cycle(board.runtime())  # Redis forgot too: found by its label and marker
    assert len(board.issues()) == 1


def test_a_forge_failure_on_the_dashboard_changes_no_decision(board: DashboardStack) -> None:
    board.github.inject("server_error", times=None, match="/issues", status=502)
    outcome = board.cycle()
    assert outcome.status == "dispatched"
    assert board.issues() == []
    (cycle,) = board.stack.events("scheduler.cycle")
    assert cycle["payload"]["action"] == "dispatch"
    board.github.clear_faults()
    assert board.cycle().reason == "max_open_prs"  # next tick: created
    assert len(board.issues()) == 1


def test_an_edit_on_github_is_written_over_and_a_pause_shows_the_resume_box(
    board: DashboardStack,
) -> None:
    runtime = board.runtime()
    board.cycle(runtime)
    (issue,) = board.issues()
    assert boxes(issue.body, "radix") == {}
    paused = board.stack.invoke("pause", "--target", "radix", "--reason", "deploy <freeze>")
    assert paused.exit_code == 0, paused.output
    board.cycle(runtime)
    (issue,) = board.issues()
    assert boxes(issue.body, "radix") == {"resume": False}
    assert "deploy &lt;freeze&gt;" in (issue.body or "")
    board.github.edit_issue_body(board.repo, issue.number, "someone rewrote it")
    board.cycle(runtime)
    (issue,) = board.issues()
    assert marker("radix") in (issue.body or "")


def test_the_action_task_checks_the_issue_and_fails_closed(board: DashboardStack) -> None:
    """The task run in-process, as a worker runs it, on requests the webhook would not send."""
    from leviathan_scheduler.dashboard_actions import run_dashboard_action

    board.github.set_permission(board.repo, "writer", "write")
    board.stack.invoke("pause", "--target", "radix", "--reason", "freeze")
    runtime = board.runtime()
    board.cycle(runtime)
    (dashboard,) = board.issues()
    other = httpx.post(
        f"{runtime.config_for('radix').github_api_url}/repos/{board.repo}/issues",
        json={"title": "not it", "body": "- [x] Resume", "labels": ["leviathan-dashboard"]},
        headers={"Authorization": f"token {TOKEN}"},
    )
    assert other.status_code == 201, other.text
    cases = [
        (("resume", "writer", other.json()["number"]), "not_the_dashboard"),
        (("resume", "bad login!", dashboard.number), "bad_request"),
        (("resume", "x" * 300, dashboard.number), "bad_request"),
        (("drop-tables", "writer", dashboard.number), "bad_request"),
        (("resume", "stranger", dashboard.number), "forge_unavailable"),  # GitHub's 404
    ]
    for (action, login, number), reason in cases:
        result = run_dashboard_action(runtime, "radix", action, login, number)
        assert (result["status"], result["reason"]) == ("refused", reason), (action, login)
    board.github.inject("server_error", times=None, match="/permission", status=502)
    result = run_dashboard_action(runtime, "radix", "resume", "writer", dashboard.number)
    assert (result["status"], result["reason"]) == ("refused", "forge_unavailable")
    assert redis.Redis.from_url(board.stack.redis_url).exists(paused_key("radix"))
    refusals = board.stack.events("dashboard.refused")
    assert [e["payload"]["reason"] for e in refusals] == [r for _, r in cases] + [
        "forge_unavailable"
    ]
    board.github.clear_faults()
    done = run_dashboard_action(runtime, "radix", "resume", "writer", dashboard.number)
    assert done["status"] == "resumed"
