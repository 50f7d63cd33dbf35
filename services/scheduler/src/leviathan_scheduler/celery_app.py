"""The scheduler's Celery app.

``celery -A leviathan_scheduler.celery_app worker -Q leviathan.scheduler`` runs
the cycles; ``celery -A leviathan_scheduler.celery_app beat`` fires them. Beat
builds its entries from the target files itself (``beat.py``), not when this
module is imported, so a worker or the CLI never depends on beat's view of the
files.
"""

from __future__ import annotations

from celery import Celery

from leviathan_shared.celery_config import celery_settings, quiet_http_logs
from leviathan_shared.config import get_settings


def create_app(redis_url: str) -> Celery:
    app = Celery("leviathan_scheduler", include=["leviathan_scheduler.tasks"])
    app.conf.update(celery_settings(redis_url))
    app.conf.beat_scheduler = "leviathan_scheduler.beat:TargetBeatScheduler"
    quiet_http_logs()
    return app


app = create_app(get_settings().redis_url)
