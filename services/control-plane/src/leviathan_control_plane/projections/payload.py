"""Checks on the payload fields the projections read, shared with the intake.

The envelope (leviathan_core.events) says which fields must be present; these
say what their values must be, so a stored event can always be projected.
"""

from __future__ import annotations

import re
from typing import Any

from leviathan_core.events import CODE_PATTERN, Event, EventType
from leviathan_core.usage import usage_problems

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


def as_count(value: Any) -> int | None:
    """A positive integer that fits a 32-bit column (JSON's ``7.0`` counts as 7), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    number = int(value)
    return number if 1 <= number <= MAX_INT32 else None


def payload_problems(event: Event) -> list[str]:
    """Type checks on the payload fields projections read (presence is the envelope's)."""
    p = event.payload
    problems: list[str] = []
    if event.type is EventType.PR_CREATED:
        if as_count(p["pr_number"]) is None:
            problems.append(f"payload.pr_number must be an integer from 1 to {MAX_INT32}")
        for key in ("pr_url", "branch"):
            if not (isinstance(p[key], str) and p[key]):
                problems.append(f"payload.{key} must be a non-empty string")
    elif event.type is EventType.PR_CLOSED:
        if as_count(p.get("pr_number")) is None:
            problems.append(f"payload.pr_number must be an integer from 1 to {MAX_INT32}")
    elif event.type is EventType.ATTEMPT_FAILED:
        if not (isinstance(p["reason"], str) and re.fullmatch(CODE_PATTERN, p["reason"])):
            problems.append("payload.reason must be a reason code such as 'scope_violation'")
        if not isinstance(p["message"], str):
            problems.append("payload.message must be a string")
    elif event.type is EventType.ATTEMPT_USAGE:
        problems += usage_problems(p)
    elif event.type in (EventType.DASHBOARD_REQUESTED, EventType.DASHBOARD_REFUSED):
        problems += _dashboard_problems(event)
    elif event.type is EventType.ATTEMPT_CREATED and "attempt_number" in p:
        number = p["attempt_number"]
        if as_count(number) is None:
            problems.append(f"payload.attempt_number must be an integer from 1 to {MAX_INT32}")
    return problems


def _dashboard_problems(event: Event) -> list[str]:
    """The dashboard events' fields, as the published schema describes them."""
    p = event.payload
    problems = [
        f"payload.{key} must be a non-empty string"
        for key in ("action", "login")
        if not (isinstance(p[key], str) and p[key])
    ]
    if event.type is EventType.DASHBOARD_REQUESTED and as_count(p["issue_number"]) is None:
        problems.append(f"payload.issue_number must be an integer from 1 to {MAX_INT32}")
    if event.type is EventType.DASHBOARD_REFUSED:
        if not (isinstance(p["reason"], str) and re.fullmatch(CODE_PATTERN, p["reason"])):
            problems.append("payload.reason must be a reason code such as 'permission_denied'")
        if not isinstance(p["message"], str):
            problems.append("payload.message must be a string")
    return problems
