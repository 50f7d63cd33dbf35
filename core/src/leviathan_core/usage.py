"""Model tokens an attempt spent: the ``attempt.usage`` payload and the day it counts on.

A model-backed engine reports what it spent; the control plane adds it up per
target and UTC day, and the daily budget (``leviathan_core.budgets``) is
judged on that sum. The payload shape is checked here, once, for the
control plane's intake, its test double and the worker that builds it:

    {"usage": {"model": "gpt-4o", "prompt_tokens": 1200,
               "completion_tokens": 300, "total_tokens": 1500}}

Further keys (in the payload or in ``usage``) are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

# One report's counts fit a 32-bit column; a day's sums are 64-bit.
MAX_REPORT_TOKENS: Final = 2**31 - 1
MODEL_MAX_LENGTH: Final = 200
COUNT_FIELDS: Final = ("prompt_tokens", "completion_tokens", "total_tokens")


@dataclass(frozen=True)
class TokenUsage:
    """One report: the model and its token counts."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @property
    def spent(self) -> int:
        """What the budget counts: ``total_tokens``, never less than prompt + completion.

        A report whose total is short of its parts (a provider that leaves it 0)
        must not loosen the budget.
        """
        return max(self.total_tokens, self.prompt_tokens + self.completion_tokens)

    def payload(self) -> dict[str, Any]:
        """The ``attempt.usage`` payload for this report."""
        return {
            "usage": {
                "model": self.model,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens,
            }
        }


def _tokens(value: Any) -> int | None:
    """A count from 0 to ``MAX_REPORT_TOKENS`` (JSON's ``7.0`` counts as 7), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    number = int(value)
    return number if 0 <= number <= MAX_REPORT_TOKENS else None


def usage_problems(payload: Mapping[str, Any]) -> list[str]:
    """What is wrong with an ``attempt.usage`` payload (empty when it can be counted)."""
    usage = payload.get("usage")
    if not isinstance(usage, Mapping):
        return ["payload.usage must be an object with model and token counts"]
    problems = []
    model = usage.get("model")
    if not (isinstance(model, str) and 1 <= len(model) <= MODEL_MAX_LENGTH):
        problems.append(f"payload.usage.model must be a string of 1 to {MODEL_MAX_LENGTH} chars")
    for key in COUNT_FIELDS:
        if _tokens(usage.get(key)) is None:
            problems.append(f"payload.usage.{key} must be an integer from 0 to {MAX_REPORT_TOKENS}")
    return problems


def usage_of(payload: Mapping[str, Any]) -> TokenUsage:
    """The report in a payload ``usage_problems`` passed; ValueError otherwise."""
    problems = usage_problems(payload)
    if problems:
        raise ValueError("; ".join(problems))
    usage = payload["usage"]
    counts = [_tokens(usage[key]) or 0 for key in COUNT_FIELDS]
    return TokenUsage(str(usage["model"]), *counts)


def usage_day(moment: datetime) -> date:
    """The UTC day a report counts on (the event's ``occurred_at``, or a clock's now)."""
    return moment.astimezone(UTC).date()
