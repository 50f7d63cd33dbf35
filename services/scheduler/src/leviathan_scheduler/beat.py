"""Celery beat's scheduler for Leviathan: entries built from the target files, kept current.

Beat is the one long-lived process that turns target files into ticks, so it
looks at the files again every ``LEVIATHAN_BEAT_RELOAD_SECONDS`` (default 30):
a new target starts ticking, a removed one stops and a changed
``schedule_cron`` applies, without a restart. Looking costs one ``stat`` per
file, and only changed files are parsed again (``target_files``), so beat
follows 10,000 files. A file that no longer loads is logged once, naming the
file and key, and its targets keep the entries in force: a typo must not stop
any target's ticks, let alone every target's. At start, beat stops (exit 2)
only when no target loads at all; each broken file is logged. Every loop also
touches the heartbeat file that the Kubernetes liveness probe reads
(``heartbeat.py``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.beat import PersistentScheduler

from leviathan_core.config import ConfigError
from leviathan_core.target_files import TargetFiles, TargetSet, fingerprint
from leviathan_scheduler import heartbeat
from leviathan_scheduler.celery_app import settings_of
from leviathan_scheduler.schedule import (
    beat_schedule,
    is_target_entry,
    schedule_changes,
    schedule_override,
)

log = logging.getLogger(__name__)


class TargetBeatScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery beat's file-backed scheduler, with entries built from the target files."""

    def setup_schedule(self) -> None:
        settings = settings_of(self.app)
        self._reload_every = settings.beat_reload_seconds
        self._next_look = time.monotonic() + self._reload_every
        self._heartbeat = heartbeat.heartbeat_path(settings.data_dir)
        self._heartbeat_failed = False
        self._desired: dict[str, dict[str, Any]] = {}
        try:
            self._config_path = settings.config_path()
            self._files = TargetFiles(self._config_path)
            self._fingerprint = fingerprint(self._config_path)
            targets = self._files.scan()
            if not targets.configs:
                raise ConfigError(targets.problem())
            schedule = self._schedule_for(targets)
        except ConfigError as exc:
            log.critical("beat cannot start: %s", exc)
            raise SystemExit(2) from None
        if targets.errors:
            log.error(
                "beat starts without the targets of files that do not load:\n%s", targets.problem()
            )
        self._desired = schedule
        self.app.conf.beat_schedule = schedule
        for name, entry in schedule.items():
            log.info("beat entry %s: %s every %s", name, entry["task"], entry["schedule"])
        super().setup_schedule()  # drops stored entries of targets removed meanwhile

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One beat iteration; also wakes up in time for the next look and the next heartbeat."""
        self.reload_if_changed()
        delay = float(super().tick(*args, **kwargs))
        self._beat_alive()
        if self._reload_every > 0:
            delay = min(delay, max(self._next_look - time.monotonic(), 0.0))
        return min(delay, heartbeat.EVERY_SECONDS)

    def _beat_alive(self) -> None:
        """Touch the heartbeat; an unwritable one is logged once and never stops beat."""
        if heartbeat.touch(self._heartbeat):
            self._heartbeat_failed = False
        elif not self._heartbeat_failed:
            self._heartbeat_failed = True
            log.warning(
                "beat cannot write its heartbeat %s; a liveness probe will fail", self._heartbeat
            )

    def reload_if_changed(self) -> bool:
        """Rebuild the entries when the target files changed; True when they were."""
        now = time.monotonic()
        if self._reload_every <= 0 or now < self._next_look:
            return False
        self._next_look = now + self._reload_every
        stamps = fingerprint(self._config_path)
        if stamps == self._fingerprint:
            return False
        self._fingerprint = stamps
        try:
            targets = self._files.scan()
            desired = self._schedule_for(targets)
        except ConfigError as exc:
            log.error("beat keeps its current schedule; the target files do not load: %s", exc)
            return False
        if targets.errors:
            log.error(
                "beat keeps its current schedule for the targets of files that do not load: %s",
                targets.problem().replace("\n", "; "),
            )
        changes = schedule_changes(self._desired, desired)
        if changes:
            self._apply(desired)
        for line in changes:
            log.info("beat schedule: %s", line)
        return bool(changes)

    def _schedule_for(self, targets: TargetSet) -> dict[str, dict[str, Any]]:
        """Entries for the targets that load, plus the entries in force of ``kept`` ones."""
        desired = beat_schedule(targets.configs, schedule_override())
        for target in targets.kept:
            for name in (f"select-cycle:{target}", f"reconcile:{target}"):
                if name in self._desired:
                    desired[name] = self._desired[name]
        return desired

    def schedules_equal(self, old: Any, new: Any) -> bool:
        """Whether the heap still matches the entries.

        Celery compares every entry on every tick; at 10,000 targets that is
        most of beat's CPU. Entries change only in ``_apply``, which drops the
        heap, so a size check is enough here.
        """
        return old is not None and new is not None and len(old) == len(new)

    def _apply(self, desired: dict[str, dict[str, Any]]) -> None:
        """Only the entries that changed are rebuilt (10,000 targets: a handful, not all)."""
        current = self.schedule
        for name in [n for n in current if is_target_entry(n) and n not in desired]:
            del current[name]
        for name, fields in desired.items():
            if name in current and self._desired.get(name) == fields:
                continue
            entry = self.Entry(**dict(fields, name=name, app=self.app))
            if name in current:
                current[name].update(entry)  # keeps last_run_at: no extra tick
            else:
                current[name] = entry
        self._desired = desired
        self.app.conf.beat_schedule = desired
        self._heap = None  # due times are recomputed on the next tick
        self.sync()
