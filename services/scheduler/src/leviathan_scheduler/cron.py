"""A beat schedule driven by croniter, the engine that validates ``schedule_cron``.

Celery's own ``crontab`` parses a narrower dialect than croniter (no ``7`` for
Sunday, no ``L``, ``#`` or ``?``) and reads a day-of-month plus day-of-week
pair differently; a target file that validated could then crash beat, or tick
at other times than ``leviathan status`` predicts. One engine for validation,
beat and status keeps the three in agreement.

Each target ticks at a stable offset after the cron's times (``tick_offset``):
a hash of its id spread over ``schedule_spread_seconds`` (at most the gap
between two cron times), so 10,000 targets on ``*/5`` reach the forge and the
control plane as an even stream rather than as 10,000 ticks at ``:00``.
"""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from celery.schedules import BaseSchedule, schedstate
from croniter import croniter


@lru_cache(maxsize=1024)
def _valid(expression: str) -> bool:
    """croniter's check, once per expression (it costs half a millisecond; beat
    builds an entry per target, 10,000 of them on the same few expressions)."""
    return bool(croniter.is_valid(expression))


# Where the shortest gap between a cron's times is looked for (a Monday, UTC).
_REFERENCE = datetime(2026, 1, 5, tzinfo=UTC)


@lru_cache(maxsize=256)
def shortest_gap_seconds(expression: str, samples: int = 64) -> float:
    """The shortest time between two consecutive times of ``expression``."""
    times = croniter(expression, _REFERENCE)
    previous: datetime = times.get_next(datetime)
    gap = float("inf")
    for _ in range(samples):
        upcoming: datetime = times.get_next(datetime)
        gap = min(gap, (upcoming - previous).total_seconds())
        previous = upcoming
    return gap


def tick_offset(target_id: str, expression: str, spread_seconds: float) -> float:
    """Pure and stable: seconds after each cron time at which ``target_id`` ticks."""
    window = min(float(spread_seconds), shortest_gap_seconds(expression))
    if window <= 0:
        return 0.0
    digest = int.from_bytes(hashlib.sha256(target_id.encode()).digest()[:8], "big")
    millis = int(window * 1000)
    return (digest % millis) / 1000 if millis else 0.0


class _Times:
    """A run of one expression's consecutive times, so a lookup is a bisection.

    Starting croniter costs about as much as a whole select cycle's Python;
    beat asks for the next time of 10,000 entries on one expression (the
    offsets differ, the expression's times do not), so it asks croniter once
    per run of ``RUN`` times instead of twice per entry and tick.
    """

    RUN = 512
    LEAD = timedelta(hours=1)  # a run starts this long before the moment that needed it

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.start: datetime | None = None
        self.times: list[datetime] = []

    def after(self, moment: datetime) -> datetime:
        if self.start is None or moment < self.start or moment >= self.times[-1]:
            self.start = moment - self.LEAD
            run = croniter(self.expression, self.start)
            self.times = [run.get_next(datetime) for _ in range(self.RUN)]
            if self.times[-1] <= moment:  # a very dense cron: start at the moment itself
                self.start, run = moment, croniter(self.expression, moment)
                self.times = [run.get_next(datetime) for _ in range(self.RUN)]
        return self.times[bisect_right(self.times, moment)]


_RUNS: dict[str, _Times] = {}
_RUNS_LOCK = threading.Lock()


def next_time(expression: str, moment: datetime, offset: float = 0.0) -> datetime:
    """The first tick after ``moment`` of a cron shifted by ``offset`` seconds."""
    shift = timedelta(seconds=offset)
    with _RUNS_LOCK:
        times = _RUNS.get(expression)
        if times is None:
            times = _RUNS[expression] = _Times(expression)
        return times.after(moment - shift) + shift


class CronSchedule(BaseSchedule):  # type: ignore[misc]
    """Due at every time ``expression`` names plus ``offset`` seconds (UTC here)."""

    def __init__(
        self, expression: str, offset: float = 0.0, nowfun: Any = None, app: Any = None
    ) -> None:
        if not _valid(expression):
            raise ValueError(f"{expression!r} is not a cron expression")
        self.expression = expression
        self.offset = float(offset)
        super().__init__(nowfun=nowfun, app=app)

    def _next_after(self, moment: datetime) -> datetime:
        return next_time(self.expression, moment, self.offset)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        last: datetime = self.maybe_make_aware(last_run_at)
        now: datetime = self.maybe_make_aware(self.now())
        return self._next_after(last) - now

    def is_due(self, last_run_at: datetime) -> schedstate:
        """Due once when a run time has passed since ``last_run_at`` (one catch-up
        tick after downtime, not one per missed time); then wait for the next."""
        remaining = self.remaining_estimate(last_run_at).total_seconds()
        if remaining > 0:
            return schedstate(False, remaining)
        now: datetime = self.maybe_make_aware(self.now())
        return schedstate(True, (self._next_after(now) - now).total_seconds())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CronSchedule):
            return (other.expression, other.offset) == (self.expression, self.offset)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.expression, self.offset))

    def __repr__(self) -> str:
        return (
            f"<cron {self.expression} +{self.offset:g}s>"
            if self.offset
            else f"<cron {self.expression}>"
        )

    def __reduce__(self) -> tuple[type[CronSchedule], tuple[str, float]]:
        # Beat's schedule file pickles its entries.
        return (self.__class__, (self.expression, self.offset))
