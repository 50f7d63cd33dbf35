"""The breaker and cap rules, each in its one home (core.breaker, core.caps)."""

from __future__ import annotations

import pytest

from leviathan_core import breaker, caps
from leviathan_core.config import AutonomyConfig


def cfg(**values: object) -> AutonomyConfig:
    return AutonomyConfig.model_validate(
        {"target_id": "radix", "target_repo_url": "https://github.com/o/r", **values}
    )


@pytest.mark.parametrize(
    ("failures", "threshold", "is_open"),
    [(0, 2, False), (1, 2, False), (2, 2, True), (5, 3, True), (2, 3, False)],
)
def test_the_breaker_opens_at_the_files_threshold(
    failures: int, threshold: int, is_open: bool
) -> None:
    config = cfg(circuit_breaker_failures=threshold)
    assert breaker.is_open(config, failures) is is_open
    assert breaker.BreakerView.of(config, failures) == breaker.BreakerView(
        failures, threshold, is_open
    )


@pytest.mark.parametrize(
    ("wait", "age", "running", "due", "seconds"),
    [
        (None, 1e9, 0, False, None),  # probes off
        (300, None, 0, False, None),  # age unknown: fail closed
        (300, 100, 0, False, 200),
        (300, 300, 0, True, 0),
        (300, 301, 1, False, 0),  # never beside a running attempt
    ],
)
def test_one_probe_after_the_cooldown_with_nothing_running(
    wait: int | None, age: float | None, running: int, due: bool, seconds: int | None
) -> None:
    config = cfg(breaker_probe_after_seconds=wait)
    assert breaker.probe_due(config, age, running) is due
    assert breaker.seconds_to_probe(config, age) == seconds


def test_the_explanation_says_the_count_the_limit_and_the_probe() -> None:
    text = breaker.explain(cfg(breaker_probe_after_seconds=60), 2, 15, 0)
    assert text.startswith("2 consecutive failures (limit 2)")
    assert text.endswith("one probe attempt in 45s")
    assert "no probe while an attempt runs" in breaker.explain(
        cfg(breaker_probe_after_seconds=60), 2, 90, 1
    )


@pytest.mark.parametrize(("count", "full"), [(0, False), (1, True), (3, True)])
def test_the_decision_layer_refuses_at_each_cap(count: int, full: bool) -> None:
    config = cfg(max_open_prs=1, max_running_attempts=1)
    assert (caps.open_prs_full(config, count) == f"Open PRs: {count}/1") is full
    assert (caps.running_full(config, count) == f"Running attempts: {count}/1") is full
    assert (caps.open_prs_full(config, count) is None) is not full


def test_the_reservation_enforces_the_files_numbers() -> None:
    limits = caps.reservation_limits(cfg(max_open_prs=3, max_running_attempts=2))
    assert (limits.max_running, limits.max_prs) == (2, 3)


def test_the_push_time_recount_names_the_other_prs() -> None:
    assert caps.pr_cap_problem(2, [7]) is None
    problem = caps.pr_cap_problem(1, [7, 9])
    assert problem == "2 open agent PR(s) (#7, #9) already reach max_open_prs=1"
