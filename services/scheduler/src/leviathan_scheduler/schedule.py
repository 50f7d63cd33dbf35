"""The beat schedule, built from the target files (pure).

One select-cycle entry per target on its ``schedule_cron``, shifted by the
target's stable offset (``cron.tick_offset``), and one reconcile entry per
target on its ``reconcile_interval_seconds``.
``LEVIATHAN_SCHEDULE_SECONDS`` replaces every cron with a fixed interval, for
demos and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from leviathan_adapters.process_settings import run_env_file
from leviathan_core.config import AutonomyConfig, ConfigError
from leviathan_core.constants import QUEUE_SCHEDULER, TASK_RECONCILE, TASK_SELECT_CYCLE
from leviathan_core.settings import Settings
from leviathan_scheduler.cron import CronSchedule, tick_offset

SCHEDULE_OVERRIDE_ENV: Final = "LEVIATHAN_SCHEDULE_SECONDS"
# A tick that waited this long in the queue is stale; the next one will come.
CRON_TICK_EXPIRES_SECONDS: Final = 120.0


class _OverrideSetting(Settings):
    """``LEVIATHAN_SCHEDULE_SECONDS`` read where every process setting is read.

    The environment first, then the run's ``env`` file (``process_settings``):
    ``make run`` writes the demo's interval there, so ``leviathan status`` from a second terminal
    reports the ticks beat really sends, not the target file's cron.
    """

    schedule_seconds: str = ""


def schedule_override(environ: Mapping[str, str] | None = None) -> float | None:
    """The interval from ``LEVIATHAN_SCHEDULE_SECONDS``, or None when unset."""
    if environ is None:
        raw = _OverrideSetting(_env_file=run_env_file()).schedule_seconds.strip()  # type: ignore[call-arg]
    else:
        raw = environ.get(SCHEDULE_OVERRIDE_ENV, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"{SCHEDULE_OVERRIDE_ENV}={raw!r}: expected a positive number of seconds")
    return seconds


def beat_schedule(
    configs: Mapping[str, AutonomyConfig], override_seconds: float | None
) -> dict[str, dict[str, Any]]:
    """Pure: the beat entries for ``configs``, named after their targets."""
    entries: dict[str, dict[str, Any]] = {}
    for target_id, config in sorted(configs.items()):
        if override_seconds is not None:
            tick: Any = override_seconds
            expires = override_seconds
        else:
            offset = tick_offset(target_id, config.schedule_cron, config.schedule_spread_seconds)
            tick = CronSchedule(config.schedule_cron, offset)
            expires = CRON_TICK_EXPIRES_SECONDS
        entries[f"select-cycle:{target_id}"] = {
            "task": TASK_SELECT_CYCLE,
            "schedule": tick,
            "args": (target_id,),
            "options": {"queue": QUEUE_SCHEDULER, "expires": expires},
        }
        interval = float(config.reconcile_interval_seconds)
        entries[f"reconcile:{target_id}"] = {
            "task": TASK_RECONCILE,
            "schedule": interval,
            "args": (target_id,),
            "options": {"queue": QUEUE_SCHEDULER, "expires": interval},
        }
    return entries


def schedule_changes(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Pure: one line per entry added, removed or changed between two schedules."""
    lines = [f"added {name} ({new[name]['schedule']})" for name in sorted(new.keys() - old)]
    lines += [f"removed {name}" for name in sorted(old.keys() - new)]
    for name in sorted(old.keys() & new):
        before, after = old[name], new[name]
        diffs = [
            f"{key} {before.get(key)} -> {after.get(key)}"
            for key in ("task", "schedule", "args", "options")
            if before.get(key) != after.get(key)
        ]
        if diffs:
            lines.append(f"changed {name}: {', '.join(diffs)}")
    return lines


def is_target_entry(name: str) -> bool:
    """Entries beat_schedule makes (others, such as Celery's own, are left alone)."""
    return name.startswith(("select-cycle:", "reconcile:"))
