"""The circuit breaker, in one place: when it is open, when it lets one probe through.

The control plane only counts consecutive failures (it never owns a
threshold). Every answer about the breaker (the cycle's decision, ``leviathan
status``, the ``breaker.opened`` record) comes from these functions, applied
to the target file as read on that cycle, so editing
``circuit_breaker_failures`` takes effect on the next cycle without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from leviathan_core.config import AutonomyConfig


def is_open(config: AutonomyConfig, consecutive_failures: int) -> bool:
    """Open once the consecutive failures reach the target's threshold."""
    return consecutive_failures >= config.circuit_breaker_failures


def probe_due(
    config: AutonomyConfig, last_failure_age_seconds: float | None, running_count: int
) -> bool:
    """Half-open: one probe once the cooldown since the newest failure is over.

    Only with nothing running, so a probe never runs beside another attempt and
    the next failure re-opens the breaker for a full cooldown. An unknown age
    means no probe (fail closed).
    """
    wait = config.breaker_probe_after_seconds
    age = last_failure_age_seconds
    return wait is not None and age is not None and age >= wait and running_count == 0


def seconds_to_probe(config: AutonomyConfig, last_failure_age_seconds: float | None) -> int | None:
    """Whole seconds until a probe may run; None when probes are off or the age unknown."""
    wait = config.breaker_probe_after_seconds
    if wait is None or last_failure_age_seconds is None:
        return None
    return max(round(wait - last_failure_age_seconds), 0)


@dataclass(frozen=True)
class BreakerView:
    """The breaker as the operator sees it: the count, the threshold, open or not."""

    consecutive_failures: int
    threshold: int
    open: bool

    @classmethod
    def of(cls, config: AutonomyConfig, consecutive_failures: int) -> BreakerView:
        return cls(
            consecutive_failures,
            config.circuit_breaker_failures,
            is_open(config, consecutive_failures),
        )


def explain(
    config: AutonomyConfig,
    consecutive_failures: int,
    last_failure_age_seconds: float | None,
    running_count: int,
) -> str:
    """Why the breaker holds this cycle, and when (or whether) a probe comes."""
    text = (
        f"{consecutive_failures} consecutive failures "
        f"(limit {config.circuit_breaker_failures}); reset with `leviathan reset-breaker`"
    )
    wait = config.breaker_probe_after_seconds
    if wait is None:
        return text
    if last_failure_age_seconds is None:
        return f"{text}; no probe: the time of the last failure is unknown"
    if running_count:
        return f"{text}; no probe while an attempt runs"
    return f"{text}; one probe attempt in {max(wait - last_failure_age_seconds, 0):.0f}s"
