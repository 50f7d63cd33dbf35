"""Throwaway PostgreSQL databases for tests, on the server at LEVIATHAN_TEST_POSTGRES_URL.

Each helper creates its own database (``leviathan_test_<random>``) and drops it
afterwards; no other database on the server is touched. Tests skip with a
clear message when no server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("LEVIATHAN_TEST_POSTGRES_URL", DEFAULT_URL)


def _libpq(url: str) -> str:
    """psycopg takes plain ``postgresql://`` URLs, not SQLAlchemy's ``+psycopg`` form."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def unreachable_reason(url: str | None = None) -> str | None:
    """None when the server answers, else why not (for the skip message)."""
    url = url or server_url()
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"no PostgreSQL at {make_url(url).render_as_string(hide_password=True)} "
            f"({first}); set LEVIATHAN_TEST_POSTGRES_URL to a server where the user "
            "may CREATE DATABASE"
        )
    return None


def require_postgres() -> None:
    reason = unreachable_reason()
    if reason:
        pytest.skip(reason)


@contextmanager
def throwaway_database(prefix: str = "leviathan_test") -> Iterator[str]:
    """Create a fresh database, yield its ``postgresql://`` URL, drop it afterwards."""
    admin = _libpq(server_url())
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh database per test (skips when no PostgreSQL is reachable)."""
    require_postgres()
    with throwaway_database() as url:
        yield url
