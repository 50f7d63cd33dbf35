"""The dispatch message: what the scheduler sends and the dispatcher consumes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leviathan_core.events import ID_PATTERN


class DispatchMessage(BaseModel):
    """Sent by name to ``leviathan.dispatch.start_attempt`` as a JSON dict.

    It carries the exact ``attempt.created`` envelope so the worker can re-post
    it unchanged (an exact duplicate) even while the scheduler's copy is spooled.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_id: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    task_id: str = Field(min_length=1, max_length=200)
    attempt_id: str = Field(pattern=ID_PATTERN)
    attempt_number: int = Field(ge=1)
    fence: int = Field(ge=0)
    created_event: dict[str, Any]
