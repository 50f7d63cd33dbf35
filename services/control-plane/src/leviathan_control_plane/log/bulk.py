"""Bulk writes for PostgreSQL: COPY for new rows, one ``unnest`` upsert per table.

Per-row statements dominate the cost of a large batch on PostgreSQL; these
send each table's rows in one round trip, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.engine import Connection

from leviathan_control_plane.log.schema import UTCDateTime


def naive_utc(value: Any) -> Any:
    """What the UTCDateTime column type binds: naive UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)
    return value


def _quoted(columns: Iterable[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)  # "commit" is a reserved word


def _converted(table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Column names and row values, with only the datetime columns converted."""
    columns = list(rows[0])
    if len(columns) == 1:  # itemgetter of one name returns the value, not a tuple
        values = [[row[columns[0]]] for row in rows]
    else:
        pick = itemgetter(*columns)
        values = [list(pick(row)) for row in rows]
    for position, column in enumerate(columns):
        if isinstance(table.c[column].type, UTCDateTime):
            for value in values:
                value[position] = naive_utc(value[position])
    return columns, values


def pg_copy(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY ... FROM STDIN: new rows in one round trip (events and new attempts)."""
    columns, values = _converted(table, rows)
    raw = conn.connection.driver_connection
    assert raw is not None
    statement = f"COPY {table.name} ({_quoted(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for value in values:
            copy.write_row(value)


@lru_cache(maxsize=64)
def _upsert_statement(
    table: Table, columns: tuple[str, ...], keys: tuple[str, ...], dialect: Dialect
) -> str:
    """The statement text for one table's shape (built once, not per batch)."""
    casts = [f"%s::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns]
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in keys)
    return (
        f"INSERT INTO {table.name} ({_quoted(columns)}) "  # noqa: S608 - names from the schema
        f"SELECT * FROM unnest({', '.join(casts)}) "
        f"ON CONFLICT ({_quoted(keys)}) DO UPDATE SET {updates}"
    )


def pg_upsert(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]]) -> None:
    """INSERT ... SELECT FROM unnest(arrays) ON CONFLICT (keys) DO UPDATE, one statement."""
    columns, values = _converted(table, rows)
    statement = _upsert_statement(table, tuple(columns), tuple(keys), conn.dialect)
    arrays = [list(column) for column in zip(*values, strict=True)]
    conn.exec_driver_sql(statement, tuple(arrays))
