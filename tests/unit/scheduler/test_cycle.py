"""The select cycle against in-memory fakes (fakeredis with Lua for the slots)."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from kombu.exceptions import OperationalError
from redis.backoff import NoBackoff
from redis.retry import Retry

from leviathan_adapters import slots
from leviathan_adapters.control_plane_client import ControlPlaneRejected, PostOutcome
from leviathan_adapters.forge.base import PullRequestInfo
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import QUEUE_DISPATCH, TASK_START_ATTEMPT
from leviathan_core.events import Event, EventType, new_event
from leviathan_core.messages import DispatchMessage
from leviathan_core.state import AttemptSummary, OpenPullRequest, TargetState
from leviathan_scheduler.cycle import run_cycle
from leviathan_scheduler.facts import combine
from tests.support.scheduler_fakes import (
    FakeBacklog,
    FakeControlPlane,
    FakeForge,
    World,
    make_world,
)

BACKLOG = """
tasks:
  - id: fix-links
    title: Fix broken links
    ready: true
    scope: docs
    allowed_paths: [docs/README.md]
  - id: later
    title: Later
    ready: false
    allowed_paths: [docs/later.md]
"""


@pytest.fixture
def config() -> AutonomyConfig:
    return AutonomyConfig(
        target_id="radix", target_repo_url="https://github.com/o/radix.git", forge="local"
    )


@pytest.fixture
def world() -> World:
    return make_world(BACKLOG)


def sent_message(world: World) -> DispatchMessage:
    assert len(world.sent.calls) == 1
    name, args, queue = world.sent.calls[0]
    assert (name, queue) == (TASK_START_ATTEMPT, QUEUE_DISPATCH)
    return DispatchMessage.model_validate(args[0])


def test_a_cycle_dispatches_the_first_eligible_task(config: AutonomyConfig, world: World) -> None:
    outcome = run_cycle(config, world.deps)
    assert outcome.status == "dispatched"
    assert outcome.attempt_id is not None
    assert re.fullmatch(r"attempt-fix-links-[0-9a-f]{8}", outcome.attempt_id)
    assert outcome.fence == 1
    message = sent_message(world)
    assert (message.task_id, message.attempt_id, message.fence) == (
        "fix-links",
        outcome.attempt_id,
        1,
    )
    created = world.control_plane.of_type(EventType.ATTEMPT_CREATED)
    assert len(created) == 1
    assert created[0].event_id == f"{outcome.attempt_id}:attempt.created"
    assert created[0].payload["attempt_number"] == 1
    assert created[0].payload["title"] == "Fix broken links"
    assert created[0].payload["branch"] == f"agent/backlog-propose-{outcome.attempt_id}"
    assert message.created_event == created[0].wire()
    cycle = world.control_plane.of_type(EventType.SCHEDULER_CYCLE)
    assert [c.payload["action"] for c in cycle] == ["dispatch"]
    assert cycle[0].payload["task_id"] == "fix-links"
    assert cycle[0].payload["dispatched"] is True
    held = slots.holders(world.redis, "radix")
    assert set(held.running) == set(held.pr) == {outcome.attempt_id}
    text = "\n".join(world.printed)
    for line in (
        "Target: radix",
        "Open PRs: 0/1",
        "Backlog tasks: 2",
        "→ Selected task: fix-links",
        "  Title: Fix broken links",
        "  Scope: docs",
        f"  Attempt ID: {outcome.attempt_id}",
        "  Attempt number: 1/2",
        f"✓ Worker job submitted: leviathan-worker-{outcome.attempt_id}",
    ):
        assert line in world.printed, text


def test_the_next_cycle_waits_for_the_running_attempt(config: AutonomyConfig, world: World) -> None:
    assert run_cycle(config, world.deps).status == "dispatched"
    second = run_cycle(config, world.deps)
    assert second.status == "skipped"
    assert second.reason == "max_open_prs"  # the attempt holds a PR slot too
    wider = config.model_copy(update={"max_open_prs": 2})
    third = run_cycle(wider, world.deps)
    assert third.reason == "max_running_attempts"
    assert len(world.sent.calls) == 1
    assert "✗ No task selected: max_running_attempts" in world.printed


def test_running_count_comes_from_the_control_plane_when_redis_lost_the_slots(
    config: AutonomyConfig, world: World
) -> None:
    assert run_cycle(config, world.deps).status == "dispatched"
    world.redis.flushall()  # a restarted Redis without persistence
    outcome = run_cycle(config.model_copy(update={"max_open_prs": 2}), world.deps)
    assert outcome.reason == "max_running_attempts"
    assert len(world.sent.calls) == 1


def test_an_open_agent_pr_on_the_forge_blocks_even_without_a_slot(
    config: AutonomyConfig, world: World
) -> None:
    world.forge.prs[7] = PullRequestInfo(
        number=7,
        url="u",
        branch="agent/backlog-propose-attempt-x-0000abcd",
        base="main",
        title="t",
        task_id="x",
        attempt_id="attempt-x-0000abcd",
    )
    outcome = run_cycle(config, world.deps)
    assert outcome.reason == "max_open_prs"
    assert world.sent.calls == []


def test_a_held_cycle_lock_makes_the_tick_a_no_op(config: AutonomyConfig, world: World) -> None:
    assert slots.acquire_cycle_lock(world.redis, "radix", 60) is not None
    outcome = run_cycle(config, world.deps)
    assert outcome.status == "locked"
    assert outcome.message is not None and outcome.message.startswith("held by cycle lock on ")
    assert world.printed[-2:] == [
        "✗ No task selected: cycle_locked (radix)",
        f"  {outcome.message}",
    ]
    assert world.control_plane.events == []
    assert world.sent.calls == []


@pytest.mark.parametrize("which", ["forge", "control_plane", "backlog"])
def test_an_unreadable_fact_skips_with_its_reason(
    config: AutonomyConfig, world: World, which: str
) -> None:
    fakes: dict[str, FakeForge | FakeControlPlane | FakeBacklog] = {
        "forge": world.forge,
        "control_plane": world.control_plane,
        "backlog": world.backlog,
    }
    fakes[which].down = True
    outcome = run_cycle(config, world.deps)
    assert outcome.status == "skipped"
    assert outcome.reason == f"fact_unavailable:{which}"
    assert world.sent.calls == []
    assert slots.holders(world.redis, "radix").running == {}
    assert f"✗ No task selected: fact_unavailable:{which}" in world.printed
    if which != "control_plane":
        (cycle,) = world.control_plane.of_type(EventType.SCHEDULER_CYCLE)
        assert cycle.payload["reasons"] == [f"fact_unavailable:{which}"]
    if which == "forge":  # the record says unknown where the console does
        assert "Open PRs: unknown/1" in world.printed
        assert cycle.payload["facts"]["open_prs"] is None
        assert cycle.payload["facts"]["running"] == 0
        assert [t["eligible"] for t in cycle.payload["tasks"]] == [None, False]


def test_unreachable_redis_skips_and_records_why(config: AutonomyConfig) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = redis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    world = make_world(BACKLOG, redis=dead)
    outcome = run_cycle(config, world.deps)
    assert (outcome.status, outcome.reason) == ("skipped", "fact_unavailable:redis")
    assert world.sent.calls == []
    (cycle,) = world.control_plane.of_type(EventType.SCHEDULER_CYCLE)
    assert cycle.payload["reasons"] == ["fact_unavailable:redis"]


def test_pause_skips_until_resumed(config: AutonomyConfig, world: World) -> None:
    slots.pause(world.redis, "radix", reason="release freeze", by="alice")
    outcome = run_cycle(config, world.deps)
    assert outcome.reason == "paused"
    assert "  paused: release freeze" in world.printed
    slots.resume(world.redis, "radix")
    assert run_cycle(config, world.deps).status == "dispatched"


def test_disabled_autonomy_never_dispatches(world: World) -> None:
    config = AutonomyConfig(
        target_id="radix", target_repo_url="https://github.com/o/radix.git", autonomy_enabled=False
    )
    assert run_cycle(config, world.deps).reason == "disabled"
    assert world.sent.calls == []


def fail_attempt(world: World, attempt_id: str) -> None:
    world.control_plane.post_event(
        new_event(
            EventType.ATTEMPT_FAILED,
            target_id="radix",
            actor="worker",
            attempt_id=attempt_id,
            task_id="fix-links",
            payload={"reason": "engine_failed", "message": "boom"},
            occurred_at=world.clock.now,
        )
    )
    world.executor.runs[attempt_id] = "failed"


def trip_breaker(config: AutonomyConfig, world: World) -> None:
    """Two dispatched attempts that fail: the breaker opens."""
    for _ in range(2):
        outcome = run_cycle(config, world.deps)
        assert outcome.status == "dispatched"
        assert outcome.attempt_id is not None
        fail_attempt(world, outcome.attempt_id)


def probing(seconds: int, **extra: Any) -> AutonomyConfig:
    """A target with the half-open breaker on."""
    return AutonomyConfig(
        target_id="radix",
        target_repo_url="https://github.com/o/radix.git",
        forge="local",
        breaker_probe_after_seconds=seconds,
        **extra,
    )


def test_breaker_opens_after_two_failures_and_reset_closes_it(
    config: AutonomyConfig, world: World
) -> None:
    trip_breaker(config, world)
    tripped = run_cycle(config, world.deps)
    assert tripped.reason == "breaker_open"
    run_cycle(config, world.deps)
    opened = world.control_plane.of_type(EventType.BREAKER_OPENED)
    assert len(opened) == 1  # the second cycle's record is a duplicate
    assert opened[0].payload == {"consecutive_failures": 2, "threshold": 2}
    world.control_plane.reset_breaker("radix", "fixed the token", "alice")
    # The task used both attempts; a fresh task is eligible after the reset.
    world.backlog.text = BACKLOG.replace("id: later", "id: later\n    ready: true").replace(
        "    ready: false\n", ""
    )
    after = run_cycle(config, world.deps)
    assert after.status == "dispatched"
    assert after.decision is not None
    assert after.decision.task_id == "later"


def test_half_open_breaker_probes_once_after_the_cooldown(world: World) -> None:
    config = probing(300, max_attempts_per_task=9)
    trip_breaker(config, world)
    world.clock.advance(299)
    waiting = run_cycle(config, world.deps)
    assert waiting.reason == "breaker_open"
    assert waiting.decision is not None
    assert "one probe attempt in 1s" in waiting.decision.messages[0]

    world.clock.advance(1)
    probe = run_cycle(config, world.deps)
    assert probe.status == "dispatched" and probe.attempt_id is not None
    assert probe.decision is not None and probe.decision.breaker_probe
    assert "  Breaker: half-open, probe after 2 failures" in world.printed
    world.executor.runs[probe.attempt_id] = "running"
    world.clock.advance(600)
    during = run_cycle(config, world.deps)  # the probe still runs: no second one
    assert during.reason == "breaker_open"
    assert during.decision is not None
    assert "no probe while an attempt runs" in during.decision.messages[0]

    fail_attempt(world, probe.attempt_id)  # a failed probe: a full cooldown again
    world.clock.advance(10)
    assert run_cycle(config, world.deps).reason == "breaker_open"
    world.clock.advance(290)
    second = run_cycle(config, world.deps)
    assert second.status == "dispatched" and second.attempt_id is not None
    assert second.decision is not None and second.decision.breaker_probe
    world.control_plane.post_event(
        new_event(
            EventType.ATTEMPT_SUCCEEDED,
            target_id="radix",
            actor="worker",
            attempt_id=second.attempt_id,
            task_id="fix-links",
            occurred_at=world.clock.now,
        )
    )
    world.executor.runs[second.attempt_id] = "succeeded"
    closed = run_cycle(config, world.deps)
    assert closed.reason != "breaker_open"
    assert closed.decision is not None and not closed.decision.breaker_probe
    assert world.control_plane.failures == 0


def test_without_probes_the_breaker_waits_for_a_reset(config: AutonomyConfig, world: World) -> None:
    trip_breaker(config, world)
    world.clock.advance(30 * 86400)
    stays = run_cycle(config, world.deps)
    assert stays.reason == "breaker_open"
    assert stays.decision is not None and "probe" not in stays.decision.messages[0]


def test_unreadable_failures_mean_no_probe(world: World) -> None:
    config = probing(60)
    trip_breaker(config, world)
    world.clock.advance(3600)

    def down(target_id: str | None = None, limit: int = 50) -> list[AttemptSummary]:
        raise ControlPlaneRejected(503, "busy")

    world.control_plane.list_failures = down  # type: ignore[method-assign]
    outcome = run_cycle(config, world.deps)
    assert outcome.reason == "breaker_open"
    assert outcome.decision is not None
    assert "time of the last failure is unknown" in outcome.decision.messages[0]


def test_an_invalid_backlog_is_recorded_once_per_blob(config: AutonomyConfig, world: World) -> None:
    world.backlog.text = "tasks:\n  - id: a\n  - id: a\n"
    first = run_cycle(config, world.deps)
    run_cycle(config, world.deps)
    assert first.reason == "backlog_invalid"
    invalid = world.control_plane.of_type(EventType.BACKLOG_INVALID)
    assert len(invalid) == 1
    assert "duplicate task id 'a' at tasks[0] and tasks[1]" in invalid[0].payload["error"]
    assert invalid[0].payload["path"] == "radix:.leviathan/backlog.yaml"
    assert invalid[0].payload["message"].startswith("duplicate task id 'a'")
    world.backlog.text = "tasks: [\n"  # another broken blob: one more record
    run_cycle(config, world.deps)
    second = world.control_plane.of_type(EventType.BACKLOG_INVALID)[1].payload
    assert (second["line"], second["column"]) == (1, 8)
    assert len(world.control_plane.of_type(EventType.BACKLOG_INVALID)) == 2


def test_a_breaker_that_stays_open_is_posted_once(config: AutonomyConfig, world: World) -> None:
    trip_breaker(config, world)
    posts: list[EventType] = []
    post_event = world.control_plane.post_event

    def spy(event: Event) -> PostOutcome:
        posts.append(event.type)
        return post_event(event)

    world.control_plane.post_event = spy  # type: ignore[method-assign]
    for _ in range(3):
        assert run_cycle(config, world.deps).reason == "breaker_open"
    assert posts.count(EventType.BREAKER_OPENED) == 1


def test_a_failed_send_fails_the_attempt_and_frees_its_slots(
    config: AutonomyConfig, world: World
) -> None:
    world.sent.fail = OperationalError("broker unreachable")
    outcome = run_cycle(config, world.deps)
    assert outcome.status == "dispatch_failed"
    (failed,) = world.control_plane.of_type(EventType.ATTEMPT_FAILED)
    assert failed.attempt_id == outcome.attempt_id
    assert failed.payload["reason"] == "dispatch_failed"
    assert slots.holders(world.redis, "radix").running == {}


def test_a_refused_attempt_created_frees_the_slots(config: AutonomyConfig, world: World) -> None:
    real_post = world.control_plane.post_event

    def refuse_created(event: Event) -> PostOutcome:
        if event.type is EventType.ATTEMPT_CREATED:
            raise ControlPlaneRejected(422, "bad event")
        return real_post(event)

    world.control_plane.post_event = refuse_created  # type: ignore[method-assign]
    outcome = run_cycle(config, world.deps)
    assert outcome.reason == "fact_unavailable:control_plane"
    assert world.sent.calls == []
    assert slots.holders(world.redis, "radix").pr == {}


def test_fences_stay_above_what_the_control_plane_has_seen(world: World) -> None:
    config = AutonomyConfig(
        target_id="radix",
        target_repo_url="https://github.com/o/radix.git",
        max_running_attempts=2,
        max_open_prs=2,
    )
    world.backlog.text = BACKLOG.replace("ready: false", "ready: true")
    first = run_cycle(config, world.deps)
    assert first.fence == 1
    world.redis.flushall()  # the counter is lost; the running attempt holds fence 1
    second = run_cycle(config, world.deps)
    assert second.status == "dispatched"
    assert second.fence == 2


def test_the_cycle_record_stays_small_on_a_huge_backlog(config: AutonomyConfig) -> None:
    lines = ["tasks:"] + [
        f"  - {{id: t{i}, title: T, ready: false, allowed_paths: [docs/a.md]}}" for i in range(500)
    ]
    world = make_world("\n".join(lines))
    assert run_cycle(config, world.deps).reason == "no_eligible_task"
    (cycle,) = world.control_plane.of_type(EventType.SCHEDULER_CYCLE)
    assert len(cycle.payload["tasks"]) == 50
    assert cycle.payload["tasks_total"] == 500
    assert cycle.payload["task_reason_counts"] == {"not_ready": 500}


def test_combine_takes_the_larger_count_of_each_pair() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    held = slots.Holders(running={"a": now}, pr={"a": now, "b": now}, now=now)
    state = TargetState(
        target_id="radix",
        running_attempts=[
            AttemptSummary(attempt_id=f"x{i}", target_id="radix", status="running")
            for i in range(3)
        ],
        open_prs=[OpenPullRequest(pr_number=1, pr_url="u", branch="agent/x", task_id="t1")],
        consecutive_failures=1,
    )
    pr = PullRequestInfo(number=2, url="u", branch="agent/y", base="main", title="t", task_id="t2")
    facts = combine(
        pause=None,
        holders=held,
        state=state,
        forge_prs=(pr,),
        unavailable={"backlog": "backlog: gone", "forge": "forge: 403"},
    )
    assert (facts.running_count, facts.open_pr_count) == (3, 2)
    assert facts.open_pr_task_ids == {"t1", "t2"}
    assert facts.consecutive_failures == 1
    assert facts.unavailable == ("forge", "backlog")  # in the documented order
    assert facts.unavailable_messages == ("forge: 403", "backlog: gone")


def test_combine_names_the_tasks_with_a_running_attempt() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    held = slots.Holders(running={"attempt-from-redis-0a1b2c3d": now, "odd": now}, pr={}, now=now)
    state = TargetState(
        target_id="radix",
        running_attempts=[
            AttemptSummary(attempt_id="y", target_id="radix", task_id="from-cp", status="running")
        ],
    )
    facts = combine(pause=None, holders=held, state=state, forge_prs=(), unavailable={})
    assert facts.running_task_ids == {"from-redis", "from-cp"}
