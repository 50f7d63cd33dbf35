"""Alembic environment: runs on the engine the service hands over in ``attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from leviathan_control_plane.log.schema import metadata

# Any fixed number works; it only has to be the same for every control plane.
ADVISORY_LOCK = 0x4C455649


def run_migrations_online() -> None:
    engine: Engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            # Two replicas starting at once must not both create the tables.
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK})
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK})
                connection.commit()


run_migrations_online()
