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

from leviathan_shared.constants import QUEUE_DISPATCH, QUEUE_SCHEDULER, TASK_START_ATTEMPT

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


def quiet_http_logs() -> None:
    """Drop httpx's per-request INFO lines: every tick would log several of them."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
