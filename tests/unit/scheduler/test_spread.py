"""Per-target tick offsets: stable, inside the window, and an even spread."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from leviathan_scheduler.cron import CronSchedule, next_time, shortest_gap_seconds, tick_offset


def test_the_offset_is_stable_and_inside_the_window() -> None:
    first = tick_offset("acme-docs", "*/5 * * * *", 300)
    assert first == tick_offset("acme-docs", "*/5 * * * *", 300)
    assert 0 <= first < 300
    assert tick_offset("acme-docs", "*/5 * * * *", 0) == 0
    assert 0 <= tick_offset("acme-docs", "*/2 * * * *", 300) < 120  # the gap caps it


def test_ten_thousand_targets_spread_evenly_over_the_window() -> None:
    offsets = [tick_offset(f"target-{n}", "*/5 * * * *", 300) for n in range(10_000)]
    per_ten_seconds = Counter(int(o // 10) for o in offsets)
    assert sorted(per_ten_seconds) == list(range(30))
    # 333 expected per 10 s slice; a fair hash stays well inside +-25 %.
    assert max(per_ten_seconds.values()) < 420 and min(per_ten_seconds.values()) > 250


def test_the_shortest_gap_of_a_cron() -> None:
    assert shortest_gap_seconds("*/5 * * * *") == 300
    assert shortest_gap_seconds("0 9 * * 1-5") == 86_400
    assert shortest_gap_seconds("0,1 * * * *") == 60


def test_a_shifted_cron_is_due_at_its_offset() -> None:
    moment = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    assert next_time("*/5 * * * *", moment, 42.0) == datetime(2026, 1, 1, 12, 0, 42, tzinfo=UTC)
    assert next_time("*/5 * * * *", moment, 10.0) == datetime(2026, 1, 1, 12, 5, 10, tzinfo=UTC)
    now = datetime(2026, 1, 1, 12, 0, 41, tzinfo=UTC)
    schedule = CronSchedule("*/5 * * * *", 42.0, nowfun=lambda: now)
    due, wait = schedule.is_due(now - timedelta(minutes=5))
    assert due is True
    assert wait == 1.0  # the next shifted time, 12:00:42
    due, wait = schedule.is_due(now - timedelta(seconds=1))
    assert (due, wait) == (False, 1.0)


def test_an_offset_survives_beats_schedule_file() -> None:
    import pickle

    schedule = CronSchedule("*/5 * * * *", 17.25)
    assert pickle.loads(pickle.dumps(schedule)) == schedule  # noqa: S301 (our own bytes)
    assert schedule != CronSchedule("*/5 * * * *")


def test_next_time_agrees_with_croniter_anywhere() -> None:
    """The cached runs of times answer what croniter answers, whatever the order of asks."""
    import random

    from croniter import croniter

    rng = random.Random(7)
    for expression in ("*/5 * * * *", "0 9 * * 1-5", "* * * * *", "0 0 1 1 *", "30 2 L * *"):
        for _ in range(500):
            moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 4e7))
            offset = rng.uniform(0, 300)
            shift = timedelta(seconds=offset)
            expected = croniter(expression, moment - shift).get_next(datetime) + shift
            assert next_time(expression, moment, offset) == expected, (expression, moment)
