"""Act on a box ticked in the dashboard issue, for a user allowed to (the Celery task's body).

The control plane only saw a signed delivery saying that ``login`` ticked a
box; it cannot ask GitHub anything (it holds no forge). This side can: it
asks GitHub for the user's permission on the repository (admin, maintain
and write may act; triage, read and none may not), checks that the issue is
this target's dashboard, then resumes the target or resets its breaker.
Every outcome, done or refused, is an event whose actor is ``github:<login>``.
Afterwards a cycle is queued, so the dashboard shows the new state (and a
refused box is unticked) without waiting for the cron tick.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from redis.exceptions import RedisError

from leviathan_adapters import slots
from leviathan_adapters.control_plane_client import ControlPlaneRejected, ControlPlaneUnavailable
from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.github_issues import WRITE_PERMISSIONS
from leviathan_core.config import AutonomyConfig, ConfigError
from leviathan_core.constants import QUEUE_SCHEDULER, TASK_SELECT_CYCLE
from leviathan_core.dashboard import Action, marker
from leviathan_core.events import EventType, new_event
from leviathan_scheduler.dashboard import issues_for
from leviathan_scheduler.deps import CycleDeps
from leviathan_scheduler.runtime import Runtime

log = logging.getLogger(__name__)
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


class Refused(Exception):
    """The request is not carried out; ``reason`` is a code, the message says why."""

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.reason, self.message, self.details = reason, message, details


def actor_of(login: str) -> str:
    """The events' actor; a login is at most 39 characters, so a longer one is cut."""
    return f"github:{login[:64]}"


def _post(deps: CycleDeps, kind: EventType, config: AutonomyConfig, **payload: Any) -> None:
    """Record an outcome; the actor is the GitHub user (``payload["login"]``)."""
    actor = actor_of(str(payload["login"]))
    event = new_event(kind, target_id=config.target_id, actor=actor, payload=payload)
    try:
        deps.control_plane.post_event(event)
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        log.warning("could not record %s: %s", kind.value, exc)


def check(config: AutonomyConfig, deps: CycleDeps, action: str, login: str, number: int) -> Action:
    """The request, checked against GitHub; raises Refused naming what failed."""
    if not GITHUB_LOGIN.fullmatch(login):
        raise Refused("bad_request", f"{login!r} is not a GitHub login")
    try:
        wanted = Action(action)
    except ValueError:
        raise Refused("bad_request", f"{action!r} is not a dashboard action") from None
    issues = issues_for(deps) if config.dashboard_issue else None
    if issues is None:
        raise Refused("dashboard_off", "dashboard_issue is off (or the forge is not GitHub)")
    try:
        permission = issues.permission(login)
        issue = issues.get(number)
    except (ForgeUnavailable, ForgeRejected) as exc:
        raise Refused("forge_unavailable", f"GitHub could not be asked: {exc}") from None
    if permission not in WRITE_PERMISSIONS:
        raise Refused(
            "permission_denied",
            f"{login} has {permission} access to {config.github_repo}; write access is needed",
            permission=permission,
        )
    if config.dashboard_label not in issue.labels or marker(config.target_id) not in issue.body:
        raise Refused("not_the_dashboard", f"issue #{number} is not the dashboard of this target")
    return wanted


def carry_out(
    config: AutonomyConfig, deps: CycleDeps, action: Action, login: str, number: int
) -> str:
    """Resume the target or reset its breaker; returns what was done."""
    actor = actor_of(login)
    if action is Action.RESUME:
        try:
            was_paused = slots.resume(deps.redis, config.target_id)
        except RedisError as exc:
            raise Refused("redis_unavailable", f"Redis: {exc}") from None
        _post(
            deps,
            EventType.TARGET_RESUMED,
            config,
            login=login,
            by=actor,
            was_paused=was_paused,
            issue_number=number,
        )
        return "resumed"
    reason = f"reset from the dashboard issue #{number}"
    try:
        deps.control_plane.reset_breaker(config.target_id, reason, actor)
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        raise Refused("control_plane_unavailable", f"control plane: {exc}") from None
    return "breaker_reset"


def run_dashboard_action(
    runtime: Runtime, target_id: str, action: str, login: str, issue_number: int
) -> dict[str, Any]:
    """The task: check, act or refuse, record, and queue a cycle to redraw the dashboard."""
    result: dict[str, Any] = {"target_id": target_id, "action": action, "login": login}
    try:
        config = runtime.config_for(target_id)
        deps = runtime.deps_for(config)
    except ConfigError as exc:
        log.error(
            "target %s: dashboard action not taken, configuration invalid: %s", target_id, exc
        )
        return result | {"status": "config_invalid", "reason": str(exc)}
    try:
        done = carry_out(
            config, deps, check(config, deps, action, login, issue_number), login, issue_number
        )
    except Refused as refusal:
        log.warning("target %s: %s by %s refused: %s", target_id, action, login, refusal.message)
        _post(
            deps,
            EventType.DASHBOARD_REFUSED,
            config,
            action=action[:64],
            login=login[:64],
            issue_number=issue_number,
            reason=refusal.reason,
            message=refusal.message,
            **refusal.details,
        )
        result |= {"status": "refused", "reason": refusal.reason}
    else:
        log.info("target %s: %s by %s from the dashboard", target_id, done, login)
        result |= {"status": done}
    if runtime.send_task is not None:
        try:
            runtime.send_task(TASK_SELECT_CYCLE, args=[target_id], queue=QUEUE_SCHEDULER)
        except Exception as exc:  # the cron tick redraws it
            log.warning("target %s: no cycle queued after the dashboard action: %s", target_id, exc)
    return result
