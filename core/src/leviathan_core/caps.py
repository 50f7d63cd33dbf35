"""The caps (``max_open_prs``, ``max_running_attempts``): every layer that holds them.

A cap is only as strong as its weakest check, so each is held in several
layers, each closing a gap the one before cannot:

1. **Counting** (``leviathan_scheduler.facts``): the running and open-PR
   counts take the larger of two systems of record (Redis slot holders and
   the control plane; the forge and the PR slot holders), so a Redis restart
   or a forge that lists a new PR late cannot under-count.
2. **Deciding** (``leviathan_core.guardrails`` via ``open_prs_full`` and
   ``running_full`` below): a cycle at a cap skips with ``max_open_prs`` or
   ``max_running_attempts`` and says the count.
3. **Reserving** (``leviathan_adapters.slots.try_reserve``, limits from
   ``reservation_limits`` below): one Lua script purges expired leases, checks
   both caps and takes both slots atomically, so two schedulers deciding at
   the same moment cannot both start an attempt.
4. **Publishing** (``leviathan_worker.publish.Publisher.check_cap`` via
   ``pr_cap_problem`` below): the worker counts the forge's open ``agent/``
   PRs again before and after the push, because a human or another
   deployment may have opened one since the reservation; the attempt then
   fails with ``pr_cap`` and withdraws its branch.

Each function here is the rule for one layer; the layers call them rather than
compare counts themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leviathan_core.config import AutonomyConfig


def open_prs_full(config: AutonomyConfig, open_pr_count: int) -> str | None:
    """Layer 2: why no attempt may start for the PR cap, or None."""
    if open_pr_count < config.max_open_prs:
        return None
    return f"Open PRs: {open_pr_count}/{config.max_open_prs}"


def running_full(config: AutonomyConfig, running_count: int) -> str | None:
    """Layer 2: why no attempt may start for the running cap, or None."""
    if running_count < config.max_running_attempts:
        return None
    return f"Running attempts: {running_count}/{config.max_running_attempts}"


@dataclass(frozen=True)
class ReservationLimits:
    """Layer 3: the numbers the reservation script enforces atomically in Redis."""

    max_running: int
    max_prs: int


def reservation_limits(config: AutonomyConfig) -> ReservationLimits:
    """Every attempt holds a running slot and a PR slot from reservation to release."""
    return ReservationLimits(config.max_running_attempts, config.max_open_prs)


def pr_cap_problem(max_open_prs: int, other_pr_numbers: Sequence[int]) -> str | None:
    """Layer 4: the push-time recount of other open ``agent/`` PRs, or None when clear."""
    if len(other_pr_numbers) < max_open_prs:
        return None
    names = ", ".join(f"#{n}" for n in other_pr_numbers[:5])
    return (
        f"{len(other_pr_numbers)} open agent PR(s) ({names}) already reach "
        f"max_open_prs={max_open_prs}"
    )
