"""The dashboard issue on the GitHub fake through real PyGithub: created once, written
only when its content changes, found again after a restart, and never a reason
for a cycle to fail or decide otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from tests.support.dashboard_stack import DashboardStack, dashboard_stack

from leviathan_core.constants import dashboard_key
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
