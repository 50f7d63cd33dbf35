"""Names every part of Leviathan must agree on: queues, tasks, Redis keys, labels.

Kept in one module so a rename cannot leave one service talking to a queue or
key that no other service reads.
"""

from __future__ import annotations

import re
from typing import Final

QUEUE_SCHEDULER: Final = "leviathan.scheduler"
QUEUE_DISPATCH: Final = "leviathan.dispatch"

TASK_SELECT_CYCLE: Final = "leviathan.scheduler.select_cycle"
TASK_RECONCILE: Final = "leviathan.scheduler.reconcile"
TASK_START_ATTEMPT: Final = "leviathan.dispatch.start_attempt"
TASK_DASHBOARD_ACTION: Final = "leviathan.scheduler.dashboard_action"

BRANCH_PREFIX: Final = "agent/"
BACKLOG_PATH: Final = ".leviathan/backlog.yaml"
PROPOSALS_DIR: Final = ".leviathan/proposals"

LABEL_APP: Final = "app"
LABEL_TARGET: Final = "leviathan.dev/target"
LABEL_ATTEMPT: Final = "leviathan.dev/attempt"
WORKER_APP_LABEL: Final = "leviathan-worker"
JOB_NAME_PREFIX: Final = "leviathan-worker-"

SECRET_GITHUB: Final = "leviathan-secrets"  # noqa: S105 - a name, not a value
SECRET_GITHUB_KEY: Final = "github-token"  # noqa: S105 - a name, not a value
# A GitHub App instead of the token: keys of the same Secret, each optional.
SECRET_GITHUB_APP_KEYS: Final = {
    "GITHUB_APP_ID": "github-app-id",
    "GITHUB_APP_INSTALLATION_ID": "github-app-installation-id",
    "GITHUB_APP_PRIVATE_KEY": "github-app-private-key",
}
SECRET_CONTROL_PLANE: Final = "leviathan-control-plane-secret"  # noqa: S105 - a name, not a value
SECRET_CONTROL_PLANE_KEY: Final = "LEVIATHAN_CONTROL_PLANE_TOKEN"  # noqa: S105 - a name, not a value


def redis_key(target_id: str, *parts: str) -> str:
    """Build a per-target Redis key such as ``leviathan:radix:slots:running``."""
    return ":".join(("leviathan", target_id, *parts))


def cycle_lock_key(target_id: str) -> str:
    return redis_key(target_id, "cycle")


def running_slots_key(target_id: str) -> str:
    return redis_key(target_id, "slots", "running")


def pr_slots_key(target_id: str) -> str:
    return redis_key(target_id, "slots", "pr")


def fence_key(target_id: str) -> str:
    return redis_key(target_id, "fence")


def paused_key(target_id: str) -> str:
    return redis_key(target_id, "paused")


def dashboard_key(target_id: str) -> str:
    """Hash of the dashboard issue: its number and the digest of the body last written."""
    return redis_key(target_id, "dashboard")


def webhook_tick_key(target_id: str) -> str:
    """Held for the debounce period after a webhook queued a cycle for the target."""
    return redis_key(target_id, "webhook-tick")


def webhook_delivery_key(delivery: str) -> str:
    """Set once a GitHub delivery (``X-GitHub-Delivery``) was acted on, so a redelivery is not.

    Not per target: ``_webhook`` cannot be a target id, so no target's keys can clash.
    """
    return f"leviathan:_webhook:delivery:{delivery}"


def branch_name(attempt_id: str, engine: str = "backlog-propose") -> str:
    """The agent branch for an attempt: ``agent/<engine>-<attempt_id>``."""
    return f"{BRANCH_PREFIX}{engine}-{attempt_id}"


_ATTEMPT_ID = re.compile(r"attempt-(.+)-[0-9a-f]{8}")


def task_of_attempt(attempt_id: str) -> str | None:
    """The task id inside ``attempt-<task>-<8 hex>``, or None for another form."""
    match = _ATTEMPT_ID.fullmatch(attempt_id)
    return match.group(1) if match else None
