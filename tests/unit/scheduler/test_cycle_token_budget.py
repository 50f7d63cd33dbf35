"""A cycle against fakes holds back once the day's tokens reach the budget, until the next day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leviathan_core.config import AutonomyConfig
from leviathan_core.events import EventType, new_event
from leviathan_core.usage import TokenUsage
from leviathan_scheduler.cycle import run_cycle
from leviathan_scheduler.status import render, target_status
from tests.support.scheduler_fakes import World, make_world

BACKLOG = """
tasks:
  - id: fix-links
    title: Fix broken links
    ready: true
    allowed_paths: [docs/README.md]
"""


def config(budget: int | None = 1000) -> AutonomyConfig:
    return AutonomyConfig(
        target_id="radix",
        target_repo_url="https://github.com/o/radix.git",
        forge="local",
        daily_token_budget=budget,
    )


def spend(world: World, tokens: int, at: datetime, n: int) -> None:
    world.control_plane.post_event(
        new_event(
            EventType.ATTEMPT_USAGE,
            target_id="radix",
            actor="worker",
            attempt_id=f"attempt-earlier-{n}",
            event_id=f"attempt-earlier-{n}:attempt.usage",
            occurred_at=at,
            payload=TokenUsage("gpt-4o", tokens - tokens // 4, tokens // 4, tokens).payload(),
        )
    )


def test_a_spent_budget_skips_until_the_next_utc_day() -> None:
    world = make_world(BACKLOG)
    now = world.clock.now  # 2026-01-01 12:00 UTC
    spend(world, 5000, now.replace(hour=0) - timedelta(seconds=1), 0)  # yesterday's: not counted
    spend(world, 600, now - timedelta(hours=2), 1)
    spend(world, 400, now - timedelta(hours=1), 2)

    outcome = run_cycle(config(), world.deps)
    assert (outcome.status, outcome.reason) == ("skipped", "token_budget_spent")
    assert world.sent.calls == []
    (record,) = world.control_plane.of_type(EventType.SCHEDULER_CYCLE)
    assert record.payload["reasons"] == ["token_budget_spent"]
    assert record.payload["facts"]["tokens_today"] == 1000
    assert "Tokens today: 1000/1000" in world.printed
    assert "  Tokens today: 1000/1000; the budget renews at 00:00 UTC" in world.printed

    # A larger budget in the target file takes effect on the next cycle.
    assert run_cycle(config(1001), world.deps).status == "dispatched"


def test_the_next_utc_day_starts_from_zero() -> None:
    world = make_world(BACKLOG)
    spend(world, 1500, world.clock.now, 1)
    assert run_cycle(config(), world.deps).reason == "token_budget_spent"
    world.clock.now = datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC)
    assert run_cycle(config(), world.deps).reason == "token_budget_spent"
    world.clock.advance(1)  # 2026-01-02 00:00:00 UTC
    outcome = run_cycle(config(), world.deps)
    assert outcome.status == "dispatched"
    record = world.control_plane.of_type(EventType.SCHEDULER_CYCLE)[-1]
    assert record.payload["facts"]["tokens_today"] == 0


def test_without_a_budget_tokens_hold_nothing_back() -> None:
    world = make_world(BACKLOG)
    spend(world, 10**9, world.clock.now, 1)
    assert run_cycle(config(None), world.deps).status == "dispatched"
    assert not any(line.startswith("Tokens today") for line in world.printed)


def test_an_unreadable_control_plane_is_named_as_such() -> None:
    world = make_world(BACKLOG)
    world.control_plane.down = True
    assert run_cycle(config(), world.deps).reason == "fact_unavailable:control_plane"


def test_status_shows_the_days_tokens_against_the_budget() -> None:
    world = make_world(BACKLOG)
    spend(world, 1200, world.clock.now, 1)
    status = target_status(config(), world.deps, None)
    assert status["tokens"] == {
        "day": "2026-01-01",
        "spent": 1200,
        "budget": 1000,
        "exhausted": True,
    }
    assert (
        "  Tokens today: 1200/1000 (2026-01-01 UTC; budget spent, no attempt starts until "
        "00:00 UTC)" in render(status)
    )
    free = target_status(config(None), world.deps, None)
    assert "  Tokens today: 1200/unlimited (2026-01-01 UTC)" in render(free)
    world.control_plane.down = True
    down = render(target_status(config(), world.deps, None))
    assert "  Tokens today: unavailable (connection refused)" in down
