"""The daily token budget, in one place: whether a target may start an attempt today.

The control plane adds up each target's ``attempt.usage`` reports per UTC day
(``leviathan_core.usage``); it never owns a budget. The cycle's decision
(``guardrails``) and ``leviathan status`` both read ``daily_token_budget`` from
the target file as loaded on that tick, through these functions, so an edit
takes effect on the next cycle without a restart.

The budget is checked before an attempt starts, never during one: an attempt
that runs may carry the day past its budget by what it spends, and the next
attempt waits for the next UTC day.
"""

from __future__ import annotations

from leviathan_core.config import AutonomyConfig


def budget_spent(config: AutonomyConfig, tokens_today: int | None) -> str | None:
    """Why no attempt may start for the token budget today, or None.

    ``tokens_today`` None means the day's sum could not be read: with a
    budget that fails closed; without one nothing is counted.
    """
    budget = config.daily_token_budget
    if budget is None:
        return None
    if tokens_today is None:
        return (
            f"the tokens spent today are unknown (daily_token_budget {budget}); "
            "no attempt starts until they can be read"
        )
    if tokens_today < budget:
        return None
    return f"{tokens_line(tokens_today, budget)}; the budget renews at 00:00 UTC"


def tokens_line(tokens_today: int | None, budget: int | None) -> str:
    """``Tokens today: N/B`` (``unlimited`` without a budget, ``unknown`` unread)."""
    spent = "unknown" if tokens_today is None else str(tokens_today)
    return f"Tokens today: {spent}/{'unlimited' if budget is None else budget}"
