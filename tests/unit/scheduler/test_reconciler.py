"""The reconciler: pure judgements in a table, then each path against fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leviathan_adapters import slots
from leviathan_adapters.forge.base import PullRequestInfo
from leviathan_core.config import AutonomyConfig
from leviathan_core.events import EventType, new_event
from leviathan_core.runs import RunState, RunStatus
from leviathan_core.state import AttemptSummary
from leviathan_scheduler.cycle import run_cycle
from leviathan_scheduler.reconciler import judge_attempt, reconcile
from tests.support.scheduler_fakes import World, make_world

BACKLOG = """
tasks:
  - id: fix-links
    title: Fix broken links
    ready: true
    allowed_paths: [docs/README.md]
"""
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
CONFIG = AutonomyConfig(
    target_id="radix",
    target_repo_url="https://github.com/o/radix.git",
    attempt_timeout_seconds=600,
    attempt_grace_seconds=60,
)


def attempt(status: str = "running", age: float = 10) -> AttemptSummary:
    return AttemptSummary(
        attempt_id="attempt-a-00000000",
        target_id="radix",
        task_id="a",
        status=status,
        created_at=NOW - timedelta(seconds=age),  # type: ignore[arg-type]
    )


def run(state: RunState) -> RunStatus:
    return RunStatus(attempt_id="attempt-a-00000000", state=state, detail=f"job {state}")


@pytest.mark.parametrize(
    ("status", "age", "run_state", "expected", "delete"),
    [
        ("running", 10, "running", None, False),
        ("running", 10, "pending", None, False),
        ("running", 10, "succeeded", None, False),  # its own terminal event is on the way
        ("running", 10, "failed", "job_failed", False),
        ("running", 10, "missing", "job_missing", False),
        ("dispatched", 10, "missing", "job_missing", False),
        ("created", 10, "missing", None, False),  # the message may still be queued
        ("created", 61, "missing", "job_missing", False),
        ("running", 661, "running", "timeout", True),
        ("created", 661, "pending", "timeout", True),
        ("running", 661, None, "timeout", True),  # no executor: the clock still decides
        ("running", 10, None, None, False),
    ],
)
def test_judge_attempt(
    status: str, age: float, run_state: RunState | None, expected: str | None, delete: bool
) -> None:
    verdict = judge_attempt(
        attempt(status, age), run(run_state) if run_state else None, NOW, CONFIG
    )
    assert (verdict.fail.value if verdict.fail else None) == expected
    assert verdict.delete_run is delete


@pytest.fixture
def world() -> World:
    return make_world(BACKLOG)


def dispatched(world: World) -> str:
    outcome = run_cycle(CONFIG, world.deps)
    assert outcome.attempt_id is not None
    world.executor.runs[outcome.attempt_id] = "running"
    return outcome.attempt_id


def test_a_failed_job_is_recorded_and_its_slots_released(world: World) -> None:
    attempt_id = dispatched(world)
    world.executor.runs[attempt_id] = "failed"
    report = reconcile(CONFIG, world.deps)
    assert report.failed == [(attempt_id, "job_failed")]
    (failed,) = world.control_plane.of_type(EventType.ATTEMPT_FAILED)
    assert failed.event_id == f"{attempt_id}:attempt.failed"
    assert failed.fence == 1
    held = slots.holders(world.redis, "radix")
    assert held.running == {}
    assert held.pr == {}
    assert reconcile(CONFIG, world.deps).failed == []  # nothing left to do


def test_a_worker_that_never_reports_times_out(world: World) -> None:
    attempt_id = dispatched(world)
    world.clock.advance(600 + 59)
    assert reconcile(CONFIG, world.deps).failed == []
    world.clock.advance(2)
    report = reconcile(CONFIG, world.deps)
    assert report.failed == [(attempt_id, "timeout")]
    assert world.executor.deleted == [attempt_id]
    assert slots.holders(world.redis, "radix").running == {}


def test_a_succeeded_attempt_keeps_its_pr_slot_until_the_pr_closes(world: World) -> None:
    attempt_id = dispatched(world)
    branch = f"agent/backlog-propose-{attempt_id}"
    world.control_plane.post_event(
        new_event(
            EventType.PR_CREATED,
            target_id="radix",
            actor="worker",
            attempt_id=attempt_id,
            task_id="fix-links",
            payload={"pr_number": 5, "pr_url": "http://pr/5", "branch": branch},
        )
    )
    world.control_plane.post_event(
        new_event(
            EventType.ATTEMPT_SUCCEEDED,
            target_id="radix",
            actor="worker",
            attempt_id=attempt_id,
            task_id="fix-links",
        )
    )
    world.executor.runs[attempt_id] = "succeeded"
    pr = PullRequestInfo(
        number=5,
        url="http://pr/5",
        branch=branch,
        base="main",
        title="t",
        task_id="fix-links",
        attempt_id=attempt_id,
    )
    world.forge.prs[5] = pr
    report = reconcile(CONFIG, world.deps)
    assert report.released_running == [attempt_id]
    assert report.renewed_pr == [attempt_id]
    held = slots.holders(world.redis, "radix")
    assert held.running == {}
    assert set(held.pr) == {attempt_id}
    world.forge.prs[5] = pr.model_copy(update={"state": "merged"})
    report = reconcile(CONFIG, world.deps)
    assert report.closed_prs == [5]
    assert report.released_pr == [attempt_id]
    (closed,) = world.control_plane.of_type(EventType.PR_CLOSED)
    assert closed.payload["state"] == "merged"
    assert slots.holders(world.redis, "radix").pr == {}


def test_an_attempt_unknown_to_the_control_plane_keeps_its_slots(world: World) -> None:
    slots.reserve(
        world.redis, "radix", "attempt-x-11111111", max_running=1, max_prs=1, lease_seconds=60
    )
    report = reconcile(CONFIG, world.deps)
    assert report.released_running == []
    assert report.released_pr == []
    assert set(slots.holders(world.redis, "radix").running) == {"attempt-x-11111111"}


def test_forge_down_keeps_pr_slots(world: World) -> None:
    attempt_id = dispatched(world)
    world.control_plane.post_event(
        new_event(
            EventType.ATTEMPT_SUCCEEDED, target_id="radix", actor="worker", attempt_id=attempt_id
        )
    )
    world.forge.down = True
    report = reconcile(CONFIG, world.deps)
    assert report.unavailable == ["forge"]
    assert report.released_running == [attempt_id]
    assert set(slots.holders(world.redis, "radix").pr) == {attempt_id}
    world.forge.down = False
    assert reconcile(CONFIG, world.deps).released_pr == [attempt_id]


def test_executor_down_still_times_out(world: World) -> None:
    attempt_id = dispatched(world)
    world.executor.down = True
    assert reconcile(CONFIG, world.deps).failed == []
    world.clock.advance(700)
    report = reconcile(CONFIG, world.deps)
    assert report.failed == [(attempt_id, "timeout")]
    assert "executor" in report.unavailable


def test_control_plane_down_changes_nothing(world: World) -> None:
    attempt_id = dispatched(world)
    world.executor.runs[attempt_id] = "failed"
    world.control_plane.down = True
    report = reconcile(CONFIG, world.deps)
    assert report.unavailable == ["control_plane"]
    assert set(slots.holders(world.redis, "radix").running) == {attempt_id}


def test_an_idle_reconcile_asks_the_forge_nothing(world: World) -> None:
    reconcile(CONFIG, world.deps)
    assert world.forge.calls == 0
    dispatched(world)
    calls = world.forge.calls  # the cycle's own fact gathering
    reconcile(CONFIG, world.deps)
    assert world.forge.calls == calls + 1  # a PR slot is held: its PR is looked up
