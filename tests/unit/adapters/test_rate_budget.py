"""One rate-limit hold per token: read from GitHub's answers, shared through Redis."""

from __future__ import annotations

import fakeredis
import pytest

from leviathan_adapters.forge import rate_budget
from leviathan_adapters.forge.rate_budget import RateBudget, budget_key, hold_for

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "headers", "until", "why"),
    [
        (403, {"Retry-After": "30"}, NOW + 30, "secondary"),
        (429, {"retry-after": "5"}, NOW + 5, "secondary"),
        (
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 900)},
            NOW + 900,
            "spent",
        ),
        (
            200,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 60)},
            NOW + 60,
            "spent",
        ),
        (429, {}, NOW + 60, "429"),
    ],
)
def test_the_answers_that_call_for_a_hold(
    status: int, headers: dict[str, str], until: float, why: str
) -> None:
    hold = hold_for(status, headers, NOW)
    assert hold is not None
    assert hold.until == until and why in hold.why


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (200, {"x-ratelimit-remaining": "4999", "x-ratelimit-reset": str(int(NOW) + 60)}),
        (304, {}),
        (403, {"x-ratelimit-remaining": "10"}),  # a permission refusal, not a limit
        (200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}),  # renewed
    ],
)
def test_answers_that_do_not(status: int, headers: dict[str, str]) -> None:
    assert hold_for(status, headers, NOW) is None


def test_a_hold_set_by_one_process_stops_another(monkeypatch: pytest.MonkeyPatch) -> None:
    server = fakeredis.FakeServer()
    clock = [NOW]
    key = budget_key("https://api.github.com", "ghp_x")
    first = RateBudget(fakeredis.FakeRedis(server=server), key, clock=lambda: clock[0])
    second = RateBudget(fakeredis.FakeRedis(server=server), key, clock=lambda: clock[0])
    assert second.current() is None
    first.observe(403, {"Retry-After": "60"})
    clock[0] += rate_budget.CHECK_EVERY  # the second process looks again
    hold = second.current()
    assert hold is not None and hold.until == NOW + 60
    assert "waits until" in hold.describe(clock[0])
    clock[0] = NOW + 61
    assert second.current() is None  # over: the budget renewed


def test_a_shorter_hold_never_shortens_a_longer_one() -> None:
    redis = fakeredis.FakeRedis()
    key = budget_key("https://api.github.com", "t")
    budget = RateBudget(redis, key, clock=lambda: NOW)
    budget.observe(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 900)})
    budget.observe(403, {"Retry-After": "10"})
    other = RateBudget(redis, key, clock=lambda: NOW)
    hold = other.current()
    assert hold is not None and hold.until == NOW + 900


def test_tokens_have_their_own_holds_and_the_key_hides_the_token() -> None:
    a, b = (
        budget_key("https://api.github.com", "ghp_a"),
        budget_key("https://api.github.com", "ghp_b"),
    )
    assert a != b and "ghp_a" not in a
    assert budget_key("https://ghe.example/api/v3", "ghp_a") != a
