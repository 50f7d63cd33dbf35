"""Celery settings shared by the scheduler and dispatcher apps.

Both services build their own Celery app (services never import each other),
so the broker contract lives here: JSON only, late acks for dispatch, and a
visibility timeout longer than any task so Redis never redelivers a task that
is still running.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu import Queue  # type: ignore[attr-defined]

from leviathan_core.config import ConfigError
from leviathan_core.constants import QUEUE_DISPATCH, QUEUE_SCHEDULER, TASK_START_ATTEMPT
from leviathan_core.settings import Settings

VISIBILITY_TIMEOUT_SECONDS = 3600


def celery_settings(redis_url: str) -> dict[str, Any]:
    """The ``app.conf`` mapping for any Leviathan Celery app."""
    return {
        "broker_url": redis_url,
        "result_backend": redis_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "task_queues": (Queue(QUEUE_SCHEDULER), Queue(QUEUE_DISPATCH)),  # type: ignore[no-untyped-call]
        "task_default_queue": QUEUE_SCHEDULER,
        "task_routes": {TASK_START_ATTEMPT: {"queue": QUEUE_DISPATCH}},
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "result_expires": 3600,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        "broker_connection_retry_on_startup": True,
        # Console blocks are printed; keep them at INFO, not Celery's default WARNING.
        "worker_redirect_stdouts_level": "INFO",
    }


def require_broker(settings: Settings) -> str:
    """The broker URL of ``settings``, or exit with one line saying how to set it.

    An app is built as ``celery -A ...`` starts, where a traceback would bury
    the one sentence that matters.
    """
    try:
        return settings.broker_url()
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None


def served_queues(app: Any) -> set[str]:
    """The queues ``app``'s own tasks are routed to: all its worker can run."""
    names = [name for name in app.tasks if not name.startswith("celery.")]
    return {app.amqp.router.route({}, name)["queue"].name for name in names}


def refuse_foreign_consumers() -> None:
    """Make ``control add_consumer`` refuse a queue the worker has no task for.

    Without ``-d`` the command reaches every worker: a scheduler worker told
    to consume ``leviathan.dispatch`` would take dispatch messages it cannot
    run, and they would fail as unregistered tasks. The built-in command stays
    in force for the worker's own queues; the refusal is a warning in the
    worker's log and an error in the command's reply.
    """
    from celery.worker import control

    builtin = control.Panel.data["add_consumer"]
    if getattr(builtin, "refuses_foreign_queues", False):
        return

    def add_consumer(state: Any, queue: str, *args: Any, **options: Any) -> dict[str, Any]:
        served = served_queues(state.consumer.app)
        if queue not in served:
            message = (
                f"not consuming {queue}: {state.hostname} has no task for it "
                f"(it serves {', '.join(sorted(served))}); use -d to pick the worker"
            )
            logging.getLogger(__name__).warning("add_consumer refused: %s", message)
            return dict(control.nok(message))
        return dict(builtin(state, queue, *args, **options))

    add_consumer.refuses_foreign_queues = True  # type: ignore[attr-defined]
    control.Panel.data["add_consumer"] = add_consumer


def quiet_http_logs() -> None:
    """Drop httpx's per-request INFO lines: every tick would log several of them."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
