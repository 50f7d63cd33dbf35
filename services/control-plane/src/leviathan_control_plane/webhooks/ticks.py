"""Queuing select cycles for webhook deliveries: Redis for debounce and delivery ids,
the Celery broker for the cycle itself (the same task beat sends)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis import Redis

from leviathan_adapters.celery_config import celery_settings
from leviathan_core.constants import (
    QUEUE_SCHEDULER,
    TASK_SELECT_CYCLE,
    webhook_delivery_key,
    webhook_tick_key,
)

if TYPE_CHECKING:
    from celery import Celery

# A queued tick older than this is dropped by the worker: the next cron tick comes.
TICK_EXPIRES_SECONDS = 120.0
# GitHub lets a delivery be redelivered (same X-GitHub-Delivery) for three days.
DELIVERY_MEMORY_SECONDS = 3 * 24 * 3600


@dataclass
class GitHubHooks:
    """What the webhook endpoint needs; absent when no webhook secret is configured."""

    secret: bytes
    config_path: str
    sender: TickSender


class TickSender:
    """Queues select cycles by name on the scheduler's queue, debounced per target."""

    def __init__(self, redis_url: str, debounce_seconds: float) -> None:
        from celery import Celery  # only a control plane with webhooks on loads Celery

        self.redis: Redis = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.app: Celery = Celery("leviathan_control_plane", set_as_current=False)
        self.app.conf.update(celery_settings(redis_url))
        self.debounce_ms = int(debounce_seconds * 1000)

    def claim(self, delivery: str) -> bool:
        """Record a delivery id; False when it was already recorded (a redelivery).

        Redis, not a table: webhooks already need it (debounce, broker), SET NX
        is atomic across replicas, and the TTL forgets ids once GitHub can no
        longer redeliver them, with no cleanup job and no migration.
        """
        key = webhook_delivery_key(delivery)
        return bool(self.redis.set(key, "1", nx=True, ex=DELIVERY_MEMORY_SECONDS))

    def release(self, delivery: str) -> None:
        """Forget a delivery that could not be acted on, so its redelivery is."""
        self.redis.delete(webhook_delivery_key(delivery))

    def send(self, target_id: str, delivery: str) -> bool:
        """Queue one cycle; False when one was queued for this target moments ago."""
        key = webhook_tick_key(target_id)
        if self.debounce_ms > 0 and not self.redis.set(key, delivery, nx=True, px=self.debounce_ms):
            return False
        try:
            self.app.send_task(
                TASK_SELECT_CYCLE,
                args=[target_id],
                queue=QUEUE_SCHEDULER,
                expires=TICK_EXPIRES_SECONDS,
            )
        except Exception:
            # Nothing was queued: the next delivery must not be debounced by this one.
            if self.debounce_ms > 0:
                self.redis.delete(key)
            raise
        return True

    def close(self) -> None:
        self.redis.close()
        self.app.close()
