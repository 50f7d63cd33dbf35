"""The one way a step ends an attempt: a reason code and a message for people."""

from __future__ import annotations

from typing import Any

from leviathan_core.events import FailureReason


class AttemptFailure(Exception):
    """Stops the attempt; becomes ``attempt.failed`` and the worker's last line."""

    def __init__(self, reason: FailureReason, message: str, **details: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details

    def payload(self) -> dict[str, Any]:
        return {"reason": self.reason.value, "message": self.message, **self.details}

    def line(self) -> str:
        return f"✗ Attempt failed: {self.reason.value}: {self.message}"
