"""The read side behind the GET endpoints and the metrics, on one engine.

A thin facade over the query modules, so the API and the metrics hold one
object; each query lives with its kind (targets, state, attempts, events,
verify). The breaker is reported as a count only (see queries.state).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine

from leviathan_control_plane.models import GraphSummary, TargetInfo, TargetUsage, VerifyReport
from leviathan_control_plane.queries import (
    attempts,
    cycles,
    events,
    state,
    targets,
    timeline,
    usage,
    verify,
)
from leviathan_control_plane.queries.cycles import CycleRecord
from leviathan_control_plane.queries.timeline import DayOutcomes
from leviathan_core.events import Event, utcnow
from leviathan_core.state import AttemptSummary, TargetState


class Reader:
    """Queries behind the GET endpoints."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def targets(self) -> tuple[list[TargetInfo], list[dict[str, Any]]]:
        return targets.targets(self.engine)

    def summary(self) -> GraphSummary:
        return targets.summary(self.engine)

    def state(self, target_id: str, day: date | None = None) -> TargetState:
        """``day``: the UTC day whose tokens to report; None: today here."""
        return state.state(self.engine, target_id, day or utcnow().date())

    def states(self, target_ids: list[str], day: date | None = None) -> list[TargetState]:
        """Many targets' states in one go, in the order asked."""
        return state.states(self.engine, target_ids, day or utcnow().date())

    def usage(self, target_id: str, days: int, until: date | None = None) -> TargetUsage:
        """Tokens per day for the ``days`` ending with ``until`` (None: today here)."""
        return usage.usage(self.engine, target_id, until or utcnow().date(), days)

    def attempts(self, target_id: str | None, limit: int, *, failed: bool) -> list[AttemptSummary]:
        return attempts.attempts(self.engine, target_id, limit, failed=failed)

    def attempt(self, attempt_id: str) -> tuple[AttemptSummary, list[dict[str, Any]]] | None:
        return attempts.attempt(self.engine, attempt_id)

    def stored(self, event_id: str) -> Event | None:
        return events.stored(self.engine, event_id)

    def events(
        self,
        *,
        target: str | None,
        attempt: str | None,
        type_: str | None,
        since: datetime | None,
        after: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int | None]:
        return events.events(
            self.engine,
            target=target,
            attempt=attempt,
            type_=type_,
            since=since,
            after=after,
            limit=limit,
        )

    def verify(self, target_id: str) -> VerifyReport:
        return verify.verify(self.engine, target_id)

    def last_cycle(self, target_id: str) -> CycleRecord | None:
        return cycles.last_cycle(self.engine, target_id)

    def task_titles(self, target_id: str) -> dict[str, str]:
        return cycles.task_titles(self.engine, target_id)

    def events_of(self, attempt_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        return timeline.events_of(self.engine, attempt_ids)

    def outcomes(
        self, target_id: str | None, days: int, until: date | None = None
    ) -> list[DayOutcomes]:
        """Attempts per UTC day and outcome for the ``days`` ending with ``until`` (None: today)."""
        return timeline.outcomes(self.engine, target_id, until or utcnow().date(), days)
