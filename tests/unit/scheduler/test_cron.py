"""Beat's croniter-driven schedule: due times, catch-up, dialect and pickling."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery
from celery.beat import ScheduleEntry
from croniter import croniter

from leviathan_scheduler.cron import CronSchedule

APP = Celery("cron-test", set_as_current=False)
APP.conf.timezone = "UTC"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(expression: str, now: str) -> CronSchedule:
    return CronSchedule(expression, nowfun=lambda: at(now), app=APP)


@pytest.mark.parametrize(
    ("expression", "last", "now", "due", "next_in"),
    [
        ("*/5 * * * *", "2026-01-01T12:00:00", "2026-01-01T12:03:00", False, 120),
        ("*/5 * * * *", "2026-01-01T12:00:00", "2026-01-01T12:05:00", True, 300),
        ("*/5 * * * *", "2026-01-01T12:00:00", "2026-01-01T12:06:30", True, 210),
        # Down for a day: one catch-up tick, then the regular times.
        ("0 9 * * *", "2026-01-01T09:00:00", "2026-01-03T10:00:00", True, 23 * 3600),
        # 7 is Sunday for croniter (Celery's crontab refuses it); 2026-01-04 is a Sunday.
        ("0 0 * * 7", "2026-01-01T00:00:00", "2026-01-03T23:00:00", False, 3600),
        ("0 0 * * 7", "2026-01-01T00:00:00", "2026-01-04T00:00:00", True, 7 * 86400),
        # L: the last day of the month.
        ("0 0 L * *", "2026-01-01T00:00:00", "2026-01-30T12:00:00", False, 12 * 3600),
    ],
)
def test_due_times_follow_croniter(
    expression: str, last: str, now: str, due: bool, next_in: float
) -> None:
    state = schedule(expression, now).is_due(at(last))
    assert (state.is_due, state.next) == (due, next_in)


def test_agrees_with_croniter_over_a_year_of_runs() -> None:
    expression, moment = "17 3 1,15 * mon", at("2026-01-01T00:00:00")
    expected = croniter(expression, moment)
    for _ in range(60):
        upcoming = expected.get_next(datetime)
        cron = schedule(expression, upcoming.replace(tzinfo=None).isoformat())
        assert cron.is_due(moment).is_due
        assert cron.remaining_estimate(moment) <= timedelta(0)
        moment = upcoming


def test_equality_repr_and_the_schedule_file_round_trip() -> None:
    cron = CronSchedule("*/5 * * * *", app=APP)
    assert cron == CronSchedule("*/5 * * * *")
    assert cron != CronSchedule("*/10 * * * *")
    assert repr(cron) == "<cron */5 * * * *>"
    entry = ScheduleEntry(name="select-cycle:radix", task="t", schedule=cron, app=APP)
    restored = pickle.loads(pickle.dumps(entry))  # noqa: S301 - as beat's schedule file
    assert restored.schedule == cron
    with pytest.raises(ValueError, match="not a cron expression"):
        CronSchedule("every five minutes")
