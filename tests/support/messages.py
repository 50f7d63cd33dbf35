"""Dispatch messages as the scheduler sends them, for dispatcher and executor tests."""

from __future__ import annotations

import secrets
from typing import Any

from leviathan_core.events import EventType, new_event
from leviathan_core.messages import DispatchMessage


def dispatch_message(
    target_id: str = "radix",
    task_id: str = "update-readme-links",
    *,
    attempt_id: str | None = None,
    fence: int = 7,
    attempt_number: int = 1,
) -> DispatchMessage:
    """A valid message whose ``created_event`` matches it, as ``select_cycle`` builds it."""
    attempt_id = attempt_id or f"attempt-{task_id}-{secrets.token_hex(4)}"
    created = new_event(
        EventType.ATTEMPT_CREATED,
        target_id=target_id,
        attempt_id=attempt_id,
        task_id=task_id,
        actor="scheduler",
        fence=fence,
        payload={"attempt_number": attempt_number},
    )
    return DispatchMessage(
        target_id=target_id,
        task_id=task_id,
        attempt_id=attempt_id,
        attempt_number=attempt_number,
        fence=fence,
        created_event=created.wire(),
    )


def wire(message: DispatchMessage) -> dict[str, Any]:
    """The JSON dict that travels through the broker."""
    return message.model_dump(mode="json")
