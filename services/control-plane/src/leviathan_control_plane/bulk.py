"""Bulk writes for PostgreSQL: COPY for new rows, one ``unnest`` upsert per table.

Per-row statements dominate the cost of a large batch on PostgreSQL; these
send each table's rows in one round trip, inside the caller's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from leviathan_control_plane.schema import UTCDateTime


def naive_utc(value: Any) -> Any:
    """What the UTCDateTime column type binds: naive UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _quoted(columns: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)  # "commit" is a reserved word


def _converted(table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Column names and row values, with only the datetime columns converted."""
    columns = list(rows[0])
    times = [c for c in columns if isinstance(table.c[c].type, UTCDateTime)]
    values = []
    for row in rows:
        if times:
            row = {**row, **{c: naive_utc(row[c]) for c in times}}
        values.append([row[c] for c in columns])
    return columns, values


def pg_copy(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    columns, values = _converted(table, rows)
    raw = conn.connection.driver_connection
    assert raw is not None
    statement = f"COPY {table.name} ({_quoted(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for value in values:
            copy.write_row(value)


def pg_upsert(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]]) -> None:
    """INSERT ... SELECT FROM unnest(arrays) ON CONFLICT (keys) DO UPDATE, one statement."""
    columns = list(rows[0])
    casts = [f"%s::{table.c[c].type.compile(dialect=conn.dialect)}[]" for c in columns]
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in keys)
    statement = (
        f"INSERT INTO {table.name} ({_quoted(columns)}) "  # noqa: S608 - names from the schema
        f"SELECT * FROM unnest({', '.join(casts)}) "
        f"ON CONFLICT ({_quoted(keys)}) DO UPDATE SET {updates}"
    )
    columns, values = _converted(table, rows)
    arrays = [list(column) for column in zip(*values, strict=True)]
    conn.exec_driver_sql(statement, tuple(arrays))
