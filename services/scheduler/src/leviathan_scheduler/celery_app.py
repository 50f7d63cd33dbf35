"""The scheduler's Celery app.

``celery -A leviathan_scheduler.celery_app worker -Q leviathan.scheduler`` runs
the cycles; ``celery -A leviathan_scheduler.celery_app beat`` fires them. Beat
builds its entries from the target files itself (``beat.py``), not when this
module is imported, so a worker or the CLI never depends on beat's view of the
files.

The broker comes from the settings (the environment or the run's ``env``
file); with neither, ``app`` ends the process with one line saying how to
configure it rather than talking to a Redis that happens to be on localhost.
``app`` is built on first access, so tests and ``leviathan`` import
``create_app`` without a broker.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from leviathan_adapters.celery_config import (
    celery_settings,
    configured_broker,
    quiet_http_logs,
    refuse_foreign_consumers,
)


def create_app(redis_url: str) -> Celery:
    app = Celery("leviathan_scheduler", include=["leviathan_scheduler.tasks"])
    app.conf.update(celery_settings(redis_url))
    app.conf.beat_scheduler = "leviathan_scheduler.beat:TargetBeatScheduler"
    quiet_http_logs()
    refuse_foreign_consumers()
    return app


@lru_cache(maxsize=1)
def configured_app() -> Celery:
    """The app on the configured broker, built when first asked for."""
    return create_app(configured_broker())


def __getattr__(name: str) -> Celery:
    """``app`` on first access: importing ``create_app`` needs no broker."""
    if name == "app":
        return configured_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
