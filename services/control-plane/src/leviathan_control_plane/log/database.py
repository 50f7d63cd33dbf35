"""Engine set-up for SQLite and PostgreSQL, and the Alembic upgrade.

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for writers so that
one writer at a time holds the database and readers keep reading; PostgreSQL
serialises appends with a row lock per target (see log/store.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url

# The Alembic scripts stay at leviathan_control_plane/migrations (the package root).
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
WRITE_OPTION = "leviathan_write"
BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Let users write ``postgresql://``; the driver here is psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings the store relies on."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        )
        _sqlite_hooks(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def is_sqlite(engine: Engine) -> bool:
    """SQLite needs the process lock and plain statements instead of COPY and arrays."""
    return engine.dialect.name == "sqlite"


def alembic_config(engine: Engine) -> Config:
    """Alembic run on our engine (migrations/env.py takes it from ``attributes``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent; safe for concurrent starts on PG)."""
    command.upgrade(alembic_config(engine), revision)
