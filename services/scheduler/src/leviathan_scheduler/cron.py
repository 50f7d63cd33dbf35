"""A beat schedule driven by croniter, the engine that validates ``schedule_cron``.

Celery's own ``crontab`` parses a narrower dialect than croniter (no ``7`` for
Sunday, no ``L``, ``#`` or ``?``) and reads a day-of-month plus day-of-week
pair differently; a target file that validated could then crash beat, or tick
at other times than ``leviathan status`` predicts. One engine for validation,
beat and status keeps the three in agreement.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from celery.schedules import BaseSchedule, schedstate
from croniter import croniter


class CronSchedule(BaseSchedule):  # type: ignore[misc]
    """Due at every time ``expression`` names (in the app's timezone, UTC here)."""

    def __init__(self, expression: str, nowfun: Any = None, app: Any = None) -> None:
        if not croniter.is_valid(expression):
            raise ValueError(f"{expression!r} is not a cron expression")
        self.expression = expression
        super().__init__(nowfun=nowfun, app=app)

    def _next_after(self, moment: datetime) -> datetime:
        upcoming: datetime = croniter(self.expression, moment).get_next(datetime)
        return upcoming

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
            return other.expression == self.expression
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.expression)

    def __repr__(self) -> str:
        return f"<cron {self.expression}>"

    def __reduce__(self) -> tuple[type[CronSchedule], tuple[str]]:
        # Beat's schedule file pickles its entries.
        return (self.__class__, (self.expression,))
