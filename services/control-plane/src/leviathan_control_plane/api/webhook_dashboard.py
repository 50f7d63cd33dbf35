"""The ``issues`` side of the webhook endpoint: record each ticked dashboard box and
queue the scheduler's task that checks the sender's permission and acts.

The request is an event first (``dashboard.requested``, actor ``github:<login>``,
its id derived from the delivery, so a retry is a duplicate), then a message
on the scheduler's queue. The scheduler's task records what it did, or why it
refused, as its own event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from leviathan_control_plane.api.appends import append_strict
from leviathan_control_plane.api.services import Services
from leviathan_control_plane.errors import ApiError
from leviathan_control_plane.webhooks.dashboard import ActionRequest, dashboard_requests
from leviathan_control_plane.webhooks.ticks import GitHubHooks
from leviathan_core.config import AutonomyConfig, ConfigError, load_configs
from leviathan_core.constants import QUEUE_SCHEDULER, TASK_DASHBOARD_ACTION
from leviathan_core.events import Event, EventType, new_event


def requested_event(request: ActionRequest, delivery: str | None) -> Event:
    key = delivery or uuid.uuid4().hex
    return new_event(
        EventType.DASHBOARD_REQUESTED,
        target_id=request.target_id,
        actor=f"github:{request.login}",
        payload={
            "action": request.action,
            "login": request.login,
            "issue_number": request.issue_number,
            "delivery": delivery,
        },
        event_id=f"dashboard.requested:{key}:{request.target_id}:{request.action}",
    )


def _configs(hooks: GitHubHooks) -> Mapping[str, AutonomyConfig]:
    try:
        return load_configs(hooks.config_path)
    except ConfigError as exc:
        raise ApiError(503, f"the target files do not load: {exc}") from None


def dashboard_delivery(
    services: Services, hooks: GitHubHooks, payload: dict[str, Any], delivery: str | None
) -> tuple[list[str], str]:
    """Record and queue every request of the delivery; returns (targets queued, why)."""
    requests, why = dashboard_requests(payload, _configs(hooks))
    if not requests:
        return [], why
    for request in requests:
        try:
            append_strict(services, [requested_event(request, delivery)])
        except ApiError as exc:
            if exc.status != 409:  # 409: recorded by an earlier try of this delivery
                raise
        args = [request.target_id, request.action, request.login, request.issue_number]
        try:
            hooks.sender.app.send_task(TASK_DASHBOARD_ACTION, args=args, queue=QUEUE_SCHEDULER)
        except (RedisError, OperationalError) as exc:
            what = f"{request.action} for {request.target_id}"
            raise ApiError(503, f"could not queue {what}: {exc}") from None
    return sorted({r.target_id for r in requests}), why
