"""GitHub webhooks that start a select cycle at once instead of at the next cron tick.

Two deliveries change what a cycle would decide: an ``agent/`` pull request
closed or merged (a PR slot frees up) and a push to the target branch that
touches ``.leviathan/backlog.yaml``. Everything else is acknowledged and
ignored. A webhook only moves a tick earlier: the cycle it queues is the same
task beat sends, with every guardrail, and a lost webhook costs nothing but
the wait for the cron tick.

The decision (``ticks_for``) is pure; ``TickSender`` does the Redis and broker
I/O: one debounce key per target so a burst of deliveries queues one cycle.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis import Redis

from leviathan_shared.celery_config import celery_settings
from leviathan_shared.config import AutonomyConfig
from leviathan_shared.constants import (
    BACKLOG_PATH,
    BRANCH_PREFIX,
    QUEUE_SCHEDULER,
    TASK_SELECT_CYCLE,
    webhook_delivery_key,
    webhook_tick_key,
)

if TYPE_CHECKING:
    from celery import Celery

SIGNATURE_PREFIX = "sha256="
# GitHub lists at most this many commits (with their files) in a push payload.
PUSH_COMMITS_LISTED = 20
# A queued tick older than this is dropped by the worker: the next cron tick comes.
TICK_EXPIRES_SECONDS = 120.0
# GitHub lets a delivery be redelivered (same X-GitHub-Delivery) for three days.
DELIVERY_MEMORY_SECONDS = 3 * 24 * 3600


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body (constant-time check)."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len(SIGNATURE_PREFIX) :].encode(), expected.encode())


@dataclass(frozen=True)
class Verdict:
    """Which targets to tick, or why the delivery changes nothing."""

    targets: tuple[str, ...] = ()
    why: str = ""


def _repository(payload: Mapping[str, Any]) -> str | None:
    repository = payload.get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name if isinstance(name, str) else None


def _targets_of(payload: Mapping[str, Any], configs: Mapping[str, AutonomyConfig]) -> list[str]:
    """Targets whose ``target_repo_url`` names the delivery's ``owner/name``."""
    name = _repository(payload)
    if name is None:
        return []
    return sorted(
        target_id
        for target_id, config in configs.items()
        if (config.github_repo or "").lower() == name.lower()
    )


def _touches_backlog(payload: Mapping[str, Any]) -> bool:
    """True when a listed commit touched the backlog, or the list may be incomplete."""
    commits = payload.get("commits")
    if not isinstance(commits, list) or len(commits) >= PUSH_COMMITS_LISTED:
        return True
    for commit in commits:
        if not isinstance(commit, dict):
            return True
        for key in ("added", "modified", "removed"):
            paths = commit.get(key)
            if not isinstance(paths, list):
                return True
            if BACKLOG_PATH in paths:
                return True
    return False


def ticks_for(
    event: str, payload: Mapping[str, Any], configs: Mapping[str, AutonomyConfig]
) -> Verdict:
    """Pure: the targets a delivery should tick now, with the reason either way."""
    targets = _targets_of(payload, configs)
    if not targets:
        return Verdict(why=f"no target watches repository {_repository(payload)!r}")
    if event == "pull_request":
        pull = payload.get("pull_request")
        head = pull.get("head") if isinstance(pull, dict) else None
        ref = head.get("ref") if isinstance(head, dict) else None
        if payload.get("action") != "closed":
            return Verdict(why=f"pull_request {payload.get('action')!r} frees no slot")
        if not isinstance(ref, str) or not ref.startswith(BRANCH_PREFIX):
            return Verdict(why=f"pull request branch {ref!r} is not an {BRANCH_PREFIX} branch")
        return Verdict(tuple(targets), f"{BRANCH_PREFIX} pull request closed")
    if event == "push":
        ref = payload.get("ref")
        hit = [t for t in targets if ref == f"refs/heads/{configs[t].target_branch}"]
        if not hit:
            return Verdict(why=f"push to {ref!r}, not to a target branch")
        if not _touches_backlog(payload):
            return Verdict(why=f"push does not touch {BACKLOG_PATH}")
        return Verdict(tuple(hit), f"push touching {BACKLOG_PATH}")
    return Verdict(why=f"event {event!r} does not change a decision")


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
