"""``leviathan status``: one target's live state, read-only, as JSON or text.

Every reading is optional: a system that cannot be reached shows as
``unavailable`` with the reason, and the others are still shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from leviathan_adapters import slots
from leviathan_adapters.control_plane_client import ControlPlaneRejected, ControlPlaneUnavailable
from leviathan_adapters.forge.base import ForgeUnavailable
from leviathan_core import breaker, budgets
from leviathan_core.config import AutonomyConfig
from leviathan_core.state import AttemptSummary
from leviathan_core.usage import usage_day
from leviathan_scheduler.cron import next_time, tick_offset
from leviathan_scheduler.deps import CycleDeps
from leviathan_scheduler.facts import last_failure_age

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``90s``, ``15m``, ``2h``, ``1d``, ``1h30m`` or plain seconds -> seconds (> 0)."""
    value = text.strip().lower()
    if value.isdigit():
        seconds = int(value)
    elif value and _DURATION.sub("", value) == "":
        seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(value))
    else:
        raise ValueError(f"--for {text!r}: expected a duration such as 90s, 15m, 2h, 1d or 1h30m")
    if seconds <= 0:
        raise ValueError(f"--for {text!r}: the duration must be positive")
    return seconds


def next_tick(config: AutonomyConfig, now: datetime, override_seconds: float | None) -> str:
    """When beat fires this target's next cycle (an interval when overridden)."""
    if override_seconds is not None:
        return f"every {override_seconds:g}s (LEVIATHAN_SCHEDULE_SECONDS)"
    offset = tick_offset(config.target_id, config.schedule_cron, config.schedule_spread_seconds)
    upcoming = next_time(config.schedule_cron, now, offset)
    return f"{upcoming.isoformat()} ({config.schedule_cron}, +{offset:g}s)"


READINGS = ("paused", "slots", "breaker", "tokens", "running_attempts", "open_prs")


def _unavailable(exc: Exception) -> dict[str, Any]:
    return {"unavailable": str(exc)}


def nothing_readable(rows: Sequence[dict[str, Any]]) -> bool:
    """True when not one reading of any target could be taken: the status is no status."""
    return all(
        isinstance(row[key], dict) and "unavailable" in row[key] for row in rows for key in READINGS
    )


def target_status(
    config: AutonomyConfig, deps: CycleDeps, override_seconds: float | None
) -> dict[str, Any]:
    """Read pause flag, breaker, tokens, slots, attempts and PRs of one target."""
    target = config.target_id
    now = deps.clock()
    status: dict[str, Any] = {"target_id": target, "next_tick": next_tick(config, now, None)}
    if override_seconds is not None:
        status["next_tick"] = next_tick(config, now, override_seconds)
    try:
        pause = slots.pause_state(deps.redis, target)
        held = slots.holders(deps.redis, target)
        status["paused"] = (
            {
                "reason": pause.reason,
                "by": pause.by,
                "until": pause.until.isoformat() if pause.until else None,
            }
            if pause
            else False
        )
        status["slots"] = {
            "running": sorted(held.running),
            "max_running": config.max_running_attempts,
            "pr": sorted(held.pr),
            "max_prs": config.max_open_prs,
            "fence": slots.current_fence(deps.redis, target),
        }
    except RedisError as exc:
        status["paused"] = status["slots"] = _unavailable(exc)
    try:
        today = usage_day(now)
        state = deps.control_plane.target_state(target, today)
        view = breaker.BreakerView.of(config, state.consecutive_failures)
        status["breaker"] = {
            "open": view.open,
            "consecutive_failures": view.consecutive_failures,
            "threshold": view.threshold,
        }
        if view.open and config.breaker_probe_after_seconds is not None:
            age = last_failure_age(config, deps, state)
            status["breaker"]["probe_in_seconds"] = breaker.seconds_to_probe(config, age)
        spent = state.tokens_today if state.usage_day == today else None
        status["tokens"] = {
            "day": today.isoformat(),
            "spent": spent,
            "budget": config.daily_token_budget,
            "exhausted": budgets.budget_spent(config, spent) is not None,
        }
        status["running_attempts"] = [
            {"attempt_id": a.attempt_id, "task_id": a.task_id, "status": a.status}
            for a in state.running_attempts
        ]
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        status["breaker"] = status["tokens"] = status["running_attempts"] = _unavailable(exc)
    try:
        status["open_prs"] = [
            {"number": pr.number, "branch": pr.branch, "task_id": pr.task_id, "url": pr.url}
            for pr in deps.forge.open_agent_prs()
        ]
    except ForgeUnavailable as exc:
        status["open_prs"] = _unavailable(exc)
    return status


def attempt_lines(attempts: Sequence[AttemptSummary]) -> list[str]:
    """One line per attempt: when, id, task and number, status, why, PR."""
    lines = []
    for a in attempts:
        stamp = a.updated_at or a.created_at
        when = stamp.isoformat() if stamp else "-"
        number = f" #{a.attempt_number}" if a.attempt_number else ""
        why = f" {a.reason}" + (f": {a.message}" if a.message else "") if a.reason else ""
        pr = f" PR #{a.pr_number} {a.pr_url or ''}".rstrip() if a.pr_number else ""
        lines.append(f"{when}  {a.attempt_id}  {a.task_id or '-'}{number}  {a.status}{why}{pr}")
    return lines


def _listed(label: str, value: Any, item: Callable[[dict[str, Any]], str]) -> list[str]:
    """A count and one line per item, or why the list could not be read."""
    if not isinstance(value, list):
        return [f"  {label}: {_fmt(value)}"]
    return [f"  {label}: {len(value)}", *(f"    - {item(v)}" for v in value)]


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "unavailable" in value:
        return f"unavailable ({value['unavailable']})"
    return str(value)


def _tokens(tokens: dict[str, Any]) -> str:
    """``Tokens today: N/B`` with the day, and whether the budget holds attempts back."""
    if "day" not in tokens:
        return f"  Tokens today: {_fmt(tokens)}"
    line = budgets.tokens_line(tokens["spent"], tokens["budget"])
    note = "; budget spent, no attempt starts until 00:00 UTC" if tokens["exhausted"] else ""
    return f"  {line} ({tokens['day']} UTC{note})"


def render(status: dict[str, Any]) -> list[str]:
    """The human form of ``target_status``."""
    lines = [f"Target: {status['target_id']}"]
    paused = status["paused"]
    if isinstance(paused, dict) and "reason" in paused:
        until = f" until {paused['until']}" if paused["until"] else ""
        lines.append(f"  Paused: yes ({paused['reason']}; by {paused['by']}{until})")
    else:
        lines.append(f"  Paused: {'no' if paused is False else _fmt(paused)}")
    breaker = status["breaker"]
    if "open" in breaker:
        state = "open" if breaker["open"] else "closed"
        probe = ""
        if "probe_in_seconds" in breaker:
            due = breaker["probe_in_seconds"]
            probe = "; probe time unknown" if due is None else f"; probe in {due}s"
        lines.append(
            f"  Breaker: {state} ({breaker['consecutive_failures']}/{breaker['threshold']} "
            f"consecutive failures{probe})"
        )
    else:
        lines.append(f"  Breaker: {_fmt(breaker)}")
    lines.append(_tokens(status["tokens"]))
    held = status["slots"]
    if "running" in held:
        lines.append(
            f"  Slots: running {len(held['running'])}/{held['max_running']}, "
            f"PRs {len(held['pr'])}/{held['max_prs']}, fence {held['fence']}"
        )
    else:
        lines.append(f"  Slots: {_fmt(held)}")
    lines += _listed(
        "Running attempts",
        status["running_attempts"],
        lambda a: f"{a['attempt_id']} ({a['task_id']}, {a['status']})",
    )
    lines += _listed(
        "Open PRs", status["open_prs"], lambda p: f"#{p['number']} {p['branch']} {p['url']}"
    )
    lines.append(f"  Next tick: {status['next_tick']}")
    return lines
