"""The daily token budget: the rule, its place in the cycle reasons, the usage payload."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from leviathan_core.backlog import parse_backlog
from leviathan_core.budgets import budget_spent, tokens_line
from leviathan_core.config import AutonomyConfig, ConfigError, parse_config
from leviathan_core.events import EventType, new_event
from leviathan_core.guardrails import CycleReason, Facts, decide
from leviathan_core.state import TargetState
from leviathan_core.usage import TokenUsage, usage_day, usage_of, usage_problems
from leviathan_scheduler.facts import combine

BASE: dict[str, Any] = {"target_id": "radix", "target_repo_url": "https://github.com/o/radix.git"}
GOOD = parse_backlog(
    "tasks:\n  - id: good\n    title: good\n    ready: true\n    allowed_paths: [docs/a.md]\n"
)


def cfg(**overrides: Any) -> AutonomyConfig:
    return AutonomyConfig.model_validate({**BASE, **overrides})


@pytest.mark.parametrize(
    ("budget", "spent", "held"),
    [
        (None, 0, False),
        (None, 10**12, False),
        (None, None, False),  # no budget: an unread count holds nothing back
        (1000, 0, False),
        (1000, 999, False),
        (1000, 1000, True),  # reached is spent
        (1000, 5000, True),  # an attempt may carry the day past its budget
        (1000, None, True),  # unknown with a budget: fail closed
        (0, 0, True),  # a budget of 0: no attempt at all
    ],
)
def test_the_rule(budget: int | None, spent: int | None, held: bool) -> None:
    config = cfg(daily_token_budget=budget)
    message = budget_spent(config, spent)
    assert (message is not None) is held
    decision = decide(config, GOOD, Facts(tokens_today=spent))
    assert decision.reason == (CycleReason.TOKEN_BUDGET_SPENT if held else None)
    if held:
        assert decision.messages == (message,)


def test_messages_say_the_count_and_when_it_renews() -> None:
    config = cfg(daily_token_budget=1000)
    assert budget_spent(config, 1200) == ("Tokens today: 1200/1000; the budget renews at 00:00 UTC")
    assert "unknown" in (budget_spent(config, None) or "")
    assert tokens_line(12, None) == "Tokens today: 12/unlimited"
    assert tokens_line(None, 5) == "Tokens today: unknown/5"


def test_the_budget_comes_after_unreadable_facts_and_before_the_caps() -> None:
    config = cfg(daily_token_budget=10)
    spent = Facts(tokens_today=10, open_pr_count=9, running_count=9)
    order = [
        (cfg(daily_token_budget=10, autonomy_enabled=False), spent, "disabled"),
        (config, Facts(paused=True, tokens_today=10), "paused"),
        (config, Facts(consecutive_failures=2, tokens_today=10), "breaker_open"),
        (
            config,
            Facts(tokens_today=None, unavailable=("control_plane",)),
            "fact_unavailable:control_plane",
        ),
        (config, spent, "token_budget_spent"),
        (config, Facts(tokens_today=9, open_pr_count=9), "max_open_prs"),
    ]
    for config_, facts, reason in order:
        assert decide(config_, GOOD, facts).reason == reason


def test_a_half_open_breaker_probe_waits_for_the_budget_too() -> None:
    config = cfg(daily_token_budget=10, breaker_probe_after_seconds=60)
    facts = Facts(consecutive_failures=2, last_failure_age_seconds=120, tokens_today=10)
    assert decide(config, GOOD, facts).reason == "token_budget_spent"
    assert decide(config, GOOD, Facts(**{**facts.__dict__, "tokens_today": 9})).breaker_probe


def test_the_budget_is_a_checked_config_key() -> None:
    assert cfg().daily_token_budget is None
    assert cfg(daily_token_budget=0).daily_token_budget == 0
    for bad in (-1, "1000", 1.5, True):
        with pytest.raises(ConfigError, match="daily_token_budget"):
            parse_config({**BASE, "daily_token_budget": bad}, "radix.yaml")


def test_facts_count_the_tokens_of_the_cycles_day_only() -> None:
    day = date(2026, 1, 1)
    state = TargetState(target_id="radix", usage_day=day, tokens_today=40)
    readings: dict[str, Any] = {"pause": None, "holders": None, "forge_prs": ()}
    assert combine(state=state, unavailable={}, today=day, **readings).tokens_today == 40
    other = combine(state=state, unavailable={}, today=date(2026, 1, 2), **readings)
    assert other.tokens_today is None  # another day's sum is unknown, not 0
    unread = combine(state=None, unavailable={"control_plane": "down"}, today=day, **readings)
    assert unread.tokens_today is None


def test_usage_counts_on_the_utc_day_of_its_time() -> None:
    east = timezone(timedelta(hours=9))
    assert usage_day(datetime(2026, 1, 2, 8, 59, tzinfo=east)) == date(2026, 1, 1)
    assert usage_day(datetime(2026, 1, 1, 23, 59, tzinfo=UTC)) == date(2026, 1, 1)


def test_the_usage_payload() -> None:
    report = TokenUsage("gpt-4o", 1000, 200, 1200)
    assert usage_problems(report.payload()) == []
    assert usage_of(report.payload()) == report
    assert TokenUsage("m", 10, 5, 0).spent == 15  # a short total never loosens the budget
    assert TokenUsage("m", 10, 5, 20).spent == 20
    event = new_event(
        EventType.ATTEMPT_USAGE,
        target_id="radix",
        actor="worker",
        attempt_id="attempt-a-1",
        payload=report.payload(),
    )
    assert event.event_id == "attempt-a-1:attempt.usage"
    with pytest.raises(ValueError, match="payload is missing usage"):
        new_event(EventType.ATTEMPT_USAGE, target_id="radix", actor="w", attempt_id="a")
    with pytest.raises(ValueError, match="needs attempt_id"):
        new_event(EventType.ATTEMPT_USAGE, target_id="radix", actor="w", payload=report.payload())
    assert usage_problems({"usage": {"model": "m"}}) == [
        f"payload.usage.{key} must be an integer from 0 to {2**31 - 1}"
        for key in ("prompt_tokens", "completion_tokens", "total_tokens")
    ]
    with pytest.raises(ValueError, match=r"payload\.usage must be an object"):
        usage_of({})
