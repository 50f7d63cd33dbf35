"""The scheduler's Celery app and its beat schedule.

``celery -A leviathan_scheduler.celery_app worker -Q leviathan.scheduler`` runs
the cycles; ``celery -A leviathan_scheduler.celery_app beat`` fires them. The
schedule is read from the target files when beat starts (one select-cycle
entry per target on its ``schedule_cron``, one reconcile entry per target on
its ``reconcile_interval_seconds``; see ``schedule.py``), not when the module
is imported, so a worker or the CLI never depends on beat's view of the files.
"""

from __future__ import annotations

import logging

from celery import Celery
from celery.beat import PersistentScheduler

from leviathan_scheduler.schedule import beat_schedule, schedule_override
from leviathan_shared.celery_config import celery_settings, quiet_http_logs
from leviathan_shared.config import ConfigError, get_settings, load_configs

log = logging.getLogger(__name__)


class TargetBeatScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery beat's file-backed scheduler, with entries built from the target files."""

    def setup_schedule(self) -> None:
        settings = get_settings()
        try:
            schedule = beat_schedule(load_configs(settings.config), schedule_override())
        except ConfigError as exc:
            log.critical("beat cannot start: %s", exc)
            raise SystemExit(2) from None
        self.app.conf.beat_schedule = schedule
        for name, entry in schedule.items():
            log.info("beat entry %s: %s every %s", name, entry["task"], entry["schedule"])
        super().setup_schedule()


def create_app(redis_url: str) -> Celery:
    app = Celery("leviathan_scheduler", include=["leviathan_scheduler.tasks"])
    app.conf.update(celery_settings(redis_url))
    app.conf.beat_scheduler = f"{__name__}:TargetBeatScheduler"
    quiet_http_logs()
    return app


app = create_app(get_settings().redis_url)
