"""Ticking a box in the dashboard issue, end to end: a signed ``issues.edited``
delivery reaches the control plane, which records it and queues the scheduler's
task; a real Celery worker asks the GitHub fake (through PyGithub) for the
sender's permission, acts or refuses, records it with the sender as actor, and
queues a cycle that redraws the dashboard."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from tests.support.dashboard_stack import TOKEN, DashboardStack, dashboard_stack
from tests.support.scheduler_stack import Proc, celery_processes, worker_argv
from tests.support.servers import wait_for

from leviathan_core.constants import QUEUE_SCHEDULER, TASK_DASHBOARD_ACTION, paused_key
from leviathan_core.dashboard import boxes

SCHEDULER_APP = "leviathan_scheduler.celery_app"


@pytest.fixture
def running(tmp_path: Path, redis_url: str) -> Iterator[DashboardStack]:
    with ExitStack() as stack_of:
        board = stack_of.enter_context(
            dashboard_stack(tmp_path, redis_url, circuit_breaker_failures=1)
        )
        worker = Proc(
            worker_argv(SCHEDULER_APP, QUEUE_SCHEDULER, "dashboard"),
            tmp_path / "worker.log",
            " ready.",
        )
        env = board.stack.env(GITHUB_TOKEN=TOKEN)
        stack_of.enter_context(celery_processes([worker], env, tmp_path))
        board.github.set_permission(board.repo, "writer", "write")
        board.github.set_permission(board.repo, "maint", "maintain")
        board.github.set_permission(board.repo, "reader", "read")
        board.github.set_permission(board.repo, "triager", "triage")
        yield board


def body(board: DashboardStack) -> str:
    (issue,) = board.issues()
    return issue.body or ""


def tick(board: DashboardStack, box: str, login: str, delivery: str) -> None:
    """``login`` ticks ``box`` on github.com: the issue changes, GitHub sends the delivery."""
    (issue,) = board.issues()
    before = issue.body or ""
    after = before.replace(f"- [ ] {box}", f"- [x] {box}")
    assert after != before, f"no unticked box {box!r} in the dashboard"
    board.github.edit_issue_body(board.repo, issue.number, after)
    answer = board.deliver_edit(before, after, login, delivery=delivery)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    assert answer.json()["queued"] == ["radix"]


def until(what: str, check: Callable[[], Any]) -> Any:
    found: list[Any] = []

    def ready() -> bool:
        value = check()
        found[:] = [value]
        return bool(value)

    wait_for(ready, what, timeout=90)
    return found[0]


def is_paused(board: DashboardStack) -> bool:
    return bool(redis.Redis.from_url(board.stack.redis_url).exists(paused_key("radix")))


def test_resume_from_the_dashboard_needs_write_access(running: DashboardStack) -> None:
    board = running
    paused = board.stack.invoke("pause", "--target", "radix", "--reason", "deploy freeze")
    assert paused.exit_code == 0, paused.output
    assert board.cycle().reason == "paused"
    assert boxes(body(board), "radix") == {"resume": False}

    tick(board, "Resume", "reader", "d-read")
    (refused,) = until("the refusal", lambda: board.stack.events("dashboard.refused"))
    assert refused["actor"] == "github:reader"
    assert refused["payload"]["reason"] == "permission_denied"
    assert refused["payload"]["permission"] == "read"
    assert is_paused(board)
    assert board.stack.events("target.resumed") == []
    # The cycle the task queued unticks the refused box.
    until("the box unticked", lambda: boxes(body(board), "radix") == {"resume": False})

    tick(board, "Resume", "triager", "d-triage")
    until("the second refusal", lambda: len(board.stack.events("dashboard.refused")) == 2)
    assert is_paused(board)
    until("the box unticked", lambda: boxes(body(board), "radix") == {"resume": False})

    tick(board, "Resume", "writer", "d-write")
    (resumed,) = until("the resume", lambda: board.stack.events("target.resumed"))
    assert resumed["actor"] == "github:writer"
    assert resumed["payload"]["issue_number"] == board.issues()[0].number
    assert not is_paused(board)
    requested = board.stack.events("dashboard.requested")
    assert [(e["actor"], e["payload"]["action"]) for e in requested] == [
        ("github:reader", "resume"),
        ("github:triager", "resume"),
        ("github:writer", "resume"),
    ]
    until("the dashboard redrawn", lambda: "- Not paused" in body(board))
    assert boxes(body(board), "radix") == {}


def fail_an_attempt(board: DashboardStack) -> None:
    now = datetime.now(UTC).isoformat()
    attempt = "attempt-fix-links-0123abcd"
    base = {"target_id": "radix", "attempt_id": attempt, "occurred_at": now, "actor": "test"}
    events = [
        {**base, "event_id": f"{attempt}:attempt.created", "type": "attempt.created"},
        {
            **base,
            "event_id": f"{attempt}:attempt.failed",
            "type": "attempt.failed",
            "payload": {"reason": "engine_failed", "message": "boom"},
        },
    ]
    response = httpx.post(
        f"{board.stack.cp.url}/v1/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {board.stack.cp.token}"},
    )
    assert response.status_code == 201, response.text


def test_a_breaker_reset_from_the_dashboard_needs_write_access(running: DashboardStack) -> None:
    board = running
    fail_an_attempt(board)
    assert board.cycle().reason == "breaker_open"
    assert boxes(body(board), "radix") == {"reset-breaker": False}
    assert "- Breaker open: 1 consecutive failures (opens at 1)" in body(board)

    tick(board, "Reset the breaker", "reader", "b-read")
    (refused,) = until("the refusal", lambda: board.stack.events("dashboard.refused"))
    assert (refused["actor"], refused["payload"]["action"]) == ("github:reader", "reset-breaker")
    assert board.stack.state()["consecutive_failures"] == 1
    assert board.stack.events("breaker.reset") == []
    until("the box unticked", lambda: boxes(body(board), "radix") == {"reset-breaker": False})

    tick(board, "Reset the breaker", "maint", "b-maint")
    (reset,) = until("the reset", lambda: board.stack.events("breaker.reset"))
    assert reset["actor"] == "github:maint"
    assert board.stack.state()["consecutive_failures"] == 0
    until("the dashboard redrawn", lambda: "- Breaker closed" in body(board))


def queued(redis_url: str) -> list[tuple[str, list[Any]]]:
    client = redis.Redis.from_url(redis_url)
    out = []
    for raw in client.lrange(QUEUE_SCHEDULER, 0, -1):
        envelope = json.loads(raw)
        args = json.loads(base64.b64decode(envelope["body"]))[0]
        out.append((envelope["headers"]["task"], args))
    return out


def test_a_forged_or_replayed_delivery_queues_nothing(tmp_path: Path, redis_url: str) -> None:
    """No worker: what the control plane itself queues and records."""
    with dashboard_stack(tmp_path, redis_url) as board:
        board.stack.invoke("pause", "--target", "radix", "--reason", "freeze")
        board.cycle()
        (issue,) = board.issues()
        before = issue.body or ""
        after = before.replace("- [ ] Resume", "- [x] Resume")
        forged = board.deliver_edit(before, after, "writer", delivery="f-1", secret="guess")
        assert forged.status_code == 401
        assert queued(redis_url) == []
        assert board.stack.events("dashboard.requested") == []
        real = board.deliver_edit(before, after, "writer", delivery="f-2")
        assert real.json()["queued"] == ["radix"]
        replay = board.deliver_edit(before, after, "writer", delivery="f-2")
        assert replay.json()["status"] == "duplicate"
        number = issue.number
        assert queued(redis_url) == [(TASK_DASHBOARD_ACTION, ["radix", "resume", "writer", number])]
        (requested,) = board.stack.events("dashboard.requested")
        assert requested["actor"] == "github:writer"
        assert requested["payload"]["issue_number"] == number
        assert is_paused(board)  # the control plane itself changes nothing
