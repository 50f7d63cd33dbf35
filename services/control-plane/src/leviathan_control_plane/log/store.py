"""Appending events: one transaction per batch, projections in the same one.

Writers are serialised per target so the sequence and the hash chain never
fork: on PostgreSQL by ``SELECT ... FOR UPDATE`` on the target's row (taken
in target-id order, so two batches cannot deadlock), on SQLite by
``BEGIN IMMEDIATE`` plus a process lock that saves the busy-wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine, any_, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from leviathan_control_plane.log import schema
from leviathan_control_plane.log.bulk import pg_copy, pg_upsert
from leviathan_control_plane.log.canonical import event_body
from leviathan_control_plane.log.database import WRITE_OPTION, is_sqlite
from leviathan_control_plane.log.rows import (
    attempt_row,
    event_row,
    new_target_row,
    pull_row,
    target_row,
    target_view,
    usage_row,
)
from leviathan_control_plane.projections.payload import as_count
from leviathan_control_plane.projections.projection import apply
from leviathan_control_plane.projections.views import (
    Appended,
    AttemptView,
    PullView,
    Rejection,
    Stored,
    TargetView,
    UsageView,
    Working,
)
from leviathan_core.events import Event, EventType
from leviathan_core.usage import usage_day, usage_of

CHUNK = 500
RETRIES = 3
# Batch reads are lookups by key; a cached plan made while a table was small may scan
# it whole and compare every row with every id (10x slower once it has grown).
INDEX_LOOKUPS = "SET LOCAL enable_seqscan = off"


@dataclass(frozen=True)
class Refused:
    """An event the lenient mode skipped, and why."""

    index: int
    event_id: str
    status: int
    message: str


class BatchRejected(Exception):
    """The whole batch was refused because of the event at ``index``."""

    def __init__(self, index: int, event_id: str, rejection: Rejection) -> None:
        super().__init__(f"event {index} ({event_id}): {rejection.message}")
        self.index, self.event_id, self.status = index, event_id, rejection.status
        self.message = rejection.message


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class EventStore:
    """The write side of the log."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = is_sqlite(engine)
        self._local = threading.Lock()

    def append(
        self, events: Sequence[Event], *, atomic: bool = True
    ) -> tuple[list[Appended | Refused], list[Event]]:
        """Store ``events`` in order; returns per-event outcomes and the events created.

        ``atomic`` refuses the whole batch at the first bad event (BatchRejected);
        otherwise bad events are skipped and reported as Refused.
        """
        bodies = [event_body(e) for e in events]
        for attempt in range(RETRIES):
            try:
                if self._sqlite:
                    with self._local:
                        return self._append_once(events, bodies, atomic)
                return self._append_once(events, bodies, atomic)
            except DBAPIError as exc:
                # A concurrent writer of another target took the same event or attempt
                # id, or PostgreSQL broke a deadlock: a fresh look settles it.
                if attempt == RETRIES - 1 or not _retryable(exc):
                    raise
        raise AssertionError("unreachable")

    def _append_once(
        self, events: Sequence[Event], bodies: list[str], atomic: bool
    ) -> tuple[list[Appended | Refused], list[Event]]:
        with self.engine.connect() as plain:
            conn = plain.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                if not self._sqlite:
                    conn.exec_driver_sql(INDEX_LOOKUPS)
                work = self._load(conn, events)
                outcomes: list[Appended | Refused] = []
                for index, (event, body) in enumerate(zip(events, bodies, strict=True)):
                    try:
                        outcomes.append(apply(work, event, body))
                    except Rejection as rej:
                        if atomic:
                            raise BatchRejected(index, event.event_id, rej) from None
                        outcomes.append(Refused(index, event.event_id, rej.status, rej.message))
                self._write(conn, work)
        return outcomes, [e for e, *_ in work.new_events]

    # -- loading ------------------------------------------------------------

    def _lock_targets(self, conn: Connection, target_ids: list[str]) -> dict[str, TargetView]:
        """Lock (creating if needed) the targets' rows; ``target_ids`` is sorted."""
        t = schema.targets
        query = select(t).where(t.c.target_id.in_(target_ids)).order_by(t.c.target_id)
        if not self._sqlite:
            query = query.with_for_update()  # PostgreSQL locks rows in ORDER BY order
        found = {row["target_id"]: target_view(row) for row in conn.execute(query).mappings()}
        missing = [tid for tid in target_ids if tid not in found]
        if missing:
            rows = [new_target_row(tid) for tid in missing]
            if self._sqlite:
                conn.execute(insert(t), rows)
            else:
                stmt = postgresql.insert(t).on_conflict_do_nothing(index_elements=["target_id"])
                conn.execute(stmt, rows)
            again = query.where(t.c.target_id.in_(missing))
            found |= {row["target_id"]: target_view(row) for row in conn.execute(again).mappings()}
        return found

    def _among(self, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
        """``column IN values``; one array parameter on PostgreSQL (cheaper to parse)."""
        if self._sqlite:
            return cast("ColumnElement[bool]", column.in_(values))
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return cast("ColumnElement[bool]", column == any_(array))

    def _load(self, conn: Connection, events: Sequence[Event]) -> Working:
        targets = sorted({e.target_id for e in events})
        work = Working(targets=self._lock_targets(conn, targets))
        e, a, p, k = schema.events, schema.attempts, schema.pull_requests, schema.task_attempts
        for part in _chunks(sorted({ev.event_id for ev in events})):
            query = select(e.c.event_id, e.c.body, e.c.sequence, e.c.hash)
            for row in conn.execute(query.where(self._among(e.c.event_id, part))):
                work.known[row.event_id] = Stored(row.body, row.sequence, row.hash)
        for part in _chunks(sorted({ev.attempt_id for ev in events if ev.attempt_id})):
            for m in conn.execute(select(a).where(self._among(a.c.attempt_id, part))).mappings():
                work.attempts[m["attempt_id"]] = AttemptView(**dict(m))
                work.loaded.add(m["attempt_id"])
        numbers = [(ev.target_id, as_count(ev.payload.get("pr_number"))) for ev in events]
        pr_keys = {(target, number) for target, number in numbers if number is not None}
        for part in _chunks(sorted({number for _, number in pr_keys})):
            query = select(p).where(
                self._among(p.c.target_id, targets), self._among(p.c.pr_number, part)
            )
            for m in conn.execute(query).mappings():
                if (m["target_id"], m["pr_number"]) in pr_keys:
                    work.pulls[(m["target_id"], m["pr_number"])] = PullView(**dict(m))
        task_keys = {(ev.target_id, ev.task_id) for ev in events if ev.task_id}
        for part in _chunks(sorted({task for _, task in task_keys})):
            query = select(k).where(
                self._among(k.c.target_id, targets), self._among(k.c.task_id, part)
            )
            for row in conn.execute(query):
                if (row.target_id, row.task_id) in task_keys:
                    work.tasks[(row.target_id, row.task_id)] = row.attempts
        self._load_usage(conn, events, work)
        return work

    def _load_usage(self, conn: Connection, events: Sequence[Event], work: Working) -> None:
        """The token_usage rows the batch's usage reports add to (by target, day, model)."""
        keys = {
            (ev.target_id, usage_day(ev.occurred_at), usage_of(ev.payload).model)
            for ev in events
            if ev.type is EventType.ATTEMPT_USAGE
        }
        if not keys:
            return
        u = schema.token_usage
        days = sorted({day for _, day, _ in keys})
        query = select(u).where(
            u.c.target_id.in_(sorted({t for t, _, _ in keys})),
            u.c.usage_day.in_(days),
        )
        for m in conn.execute(query).mappings():
            key = (m["target_id"], m["usage_day"], m["model"])
            if key in keys:
                work.usage[key] = UsageView(**dict(m))

    # -- writing ------------------------------------------------------------

    def _write(self, conn: Connection, work: Working) -> None:
        if not work.new_events:
            return
        now = datetime.now(UTC)
        self._insert(conn, schema.events, [event_row(item, now) for item in work.new_events])
        dirty = sorted(work.dirty_attempts)
        # A new attempt is a plain INSERT: if another target's writer took the same id
        # meanwhile, the unique key fails and the batch is retried with a fresh look.
        self._insert(
            conn,
            schema.attempts,
            [attempt_row(work.attempts[i]) for i in dirty if i not in work.loaded],
        )
        self._upsert(
            conn,
            schema.attempts,
            ["attempt_id"],
            [attempt_row(work.attempts[i]) for i in dirty if i in work.loaded],
        )
        self._upsert(
            conn,
            schema.pull_requests,
            ["target_id", "pr_number"],
            [pull_row(work.pulls[key]) for key in sorted(work.dirty_pulls)],
        )
        tasks = [
            {"target_id": t, "task_id": task, "attempts": work.tasks[(t, task)]}
            for t, task in sorted(work.dirty_tasks)
        ]
        self._upsert(conn, schema.task_attempts, ["target_id", "task_id"], tasks)
        self._upsert(
            conn,
            schema.token_usage,
            ["target_id", "usage_day", "model"],
            [usage_row(work.usage[key]) for key in sorted(work.dirty_usage)],
        )
        t = schema.targets
        rows = [target_row(view) for view in work.targets.values()]
        stmt = update(t).where(t.c.target_id == bindparam("b_target_id"))
        stmt = stmt.values({c: bindparam(f"b_{c}") for c in rows[0] if c != "target_id"})
        conn.execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in rows])

    def _insert(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(table), rows) if self._sqlite else pg_copy(conn, table, rows)

    def _upsert(
        self, conn: Connection, table: Any, keys: list[str], rows: list[dict[str, Any]]
    ) -> None:
        """Insert or overwrite rows of our locked targets."""
        if not rows:
            return
        if not self._sqlite:
            pg_upsert(conn, table, keys, rows)
            return
        stmt = sqlite.insert(table)
        changes = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changes), rows)


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("40P01", "40001")  # deadlock detected, serialization failure
