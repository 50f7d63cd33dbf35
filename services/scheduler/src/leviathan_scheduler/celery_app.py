"""The scheduler's Celery app, built by ``create_app(settings)``.

``celery -A leviathan_scheduler.celery_app worker -Q leviathan.scheduler`` runs
the cycles; ``celery -A leviathan_scheduler.celery_app beat`` fires them. The
module's ``app`` is what those command lines find: it is built on first
access from this process's settings (``process_settings``), so importing the
module needs no broker and tests build their own apps from their own
settings. Beat builds its entries from the target files itself (``beat.py``),
so a worker or the CLI never depends on beat's view of the files.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from leviathan_adapters.celery_config import (
    celery_settings,
    quiet_http_logs,
    refuse_foreign_consumers,
    require_broker,
)
from leviathan_adapters.process_settings import process_settings
from leviathan_core.settings import Settings


def create_app(settings: Settings) -> Celery:
    """A scheduler app on ``settings``' broker, with its tasks and beat's scheduler."""
    app = Celery("leviathan_scheduler")
    app.conf.update(celery_settings(require_broker(settings)))
    app.conf.beat_scheduler = "leviathan_scheduler.beat:TargetBeatScheduler"
    app.leviathan_settings = settings  # beat's scheduler reads the target files these name
    # Imported here, after the broker check: the tasks load the git and forge clients.
    from leviathan_scheduler import tasks

    tasks.register(app, settings)
    quiet_http_logs()
    refuse_foreign_consumers()
    return app


def settings_of(app: Celery) -> Settings:
    """The settings ``app`` was created with."""
    settings: Settings = app.leviathan_settings
    return settings


@lru_cache(maxsize=1)
def configured_app() -> Celery:
    """The app of this process, on its configured broker, built when first asked for."""
    return create_app(process_settings())


def __getattr__(name: str) -> Celery:
    """``app`` on first access, for ``celery -A``: importing ``create_app`` needs no broker."""
    if name == "app":
        return configured_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
