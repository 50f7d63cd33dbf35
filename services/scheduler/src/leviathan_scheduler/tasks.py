"""The scheduler's Celery tasks: a few lines each around ``cycle`` and ``reconciler``.

``register(app, settings)`` adds them to an app (``celery_app.create_app``);
the runtime they share is built from those settings on the first task. A bad
target file is logged and reported in the task result; it never raises, so a
broken file cannot make Celery retry a tick in a loop.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from typing import Any

from celery import Celery
from redis.exceptions import RedisError

from leviathan_adapters import slots
from leviathan_core.config import AutonomyConfig, ConfigError
from leviathan_core.constants import TASK_DASHBOARD_ACTION, TASK_RECONCILE, TASK_SELECT_CYCLE
from leviathan_core.settings import Settings
from leviathan_scheduler.cycle import CYCLE_LOCK_SECONDS, run_cycle
from leviathan_scheduler.deps import CycleDeps
from leviathan_scheduler.reconciler import reconcile as reconcile_target
from leviathan_scheduler.runtime import Runtime

log = logging.getLogger(__name__)


def register(app: Celery, settings: Settings) -> None:
    """Add ``select_cycle`` and ``reconcile`` to ``app``, sharing one runtime per app."""

    built: list[Runtime] = []
    lock = threading.Lock()

    def runtime() -> Runtime:
        """One runtime per worker process, shared by its threads: clients are reused."""
        with lock:
            if not built:
                built.append(Runtime(settings, app.send_task))
            return built[0]

    @app.task(name=TASK_SELECT_CYCLE, shared=False)  # type: ignore[untyped-decorator]
    def select_cycle(target_id: str) -> dict[str, Any]:
        """One select cycle for ``target_id`` (beat sends one per tick)."""
        return run_select_cycle(runtime(), target_id)

    @app.task(name=TASK_RECONCILE, shared=False)  # type: ignore[untyped-decorator]
    def reconcile(target_id: str) -> dict[str, Any]:
        """Reconcile ``target_id`` between cycles, under the same lock as a cycle."""
        return run_reconcile(runtime(), target_id)

    @app.task(name=TASK_DASHBOARD_ACTION, shared=False)  # type: ignore[untyped-decorator]
    def dashboard_action(target_id: str, action: str, login: str, issue: int) -> dict[str, Any]:
        """A box ticked in the dashboard issue (queued by the control plane's webhook)."""
        from leviathan_scheduler.dashboard_actions import run_dashboard_action

        return run_dashboard_action(runtime(), target_id, action, login, issue)


def _wired(runtime: Runtime, target_id: str) -> tuple[AutonomyConfig, CycleDeps]:
    """The target's configuration, read now, and the clients a cycle uses."""
    config = runtime.config_for(target_id)
    return config, runtime.deps_for(config)


def _config_invalid(target_id: str, exc: ConfigError) -> dict[str, Any]:
    log.error("target %s: configuration invalid, nothing done: %s", target_id, exc)
    return {"target_id": target_id, "status": "config_invalid", "reason": str(exc)}


def run_select_cycle(runtime: Runtime, target_id: str) -> dict[str, Any]:
    try:
        config, deps = _wired(runtime, target_id)
    except ConfigError as exc:
        return _config_invalid(target_id, exc)
    return run_cycle(config, deps).as_json()


def run_reconcile(runtime: Runtime, target_id: str) -> dict[str, Any]:
    try:
        config, deps = _wired(runtime, target_id)
    except ConfigError as exc:
        return _config_invalid(target_id, exc)
    try:
        holder = slots.this_process("reconcile")
        with slots.cycle_lock(deps.redis, target_id, CYCLE_LOCK_SECONDS, holder) as token:
            if token is None:
                return {"target_id": target_id, "status": "locked"}
            report = reconcile_target(config, deps)
    except RedisError as exc:
        log.warning("target %s: reconcile skipped, Redis unavailable: %s", target_id, exc)
        return {"target_id": target_id, "status": "skipped", "reason": "fact_unavailable:redis"}
    return {"target_id": target_id, "status": "reconciled", **asdict(report)}
