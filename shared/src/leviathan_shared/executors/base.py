"""What the dispatcher (create) and the reconciler (inspect, delete) need of an executor.

Kubernetes owns Job truth and the local executor owns process truth; both
answer the same questions so the reconciler needs no special case.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

from leviathan_shared.messages import DispatchMessage

RunState = Literal["pending", "running", "succeeded", "failed", "missing"]


class ExecutorUnavailable(RuntimeError):
    """The executor's backend (e.g. the Kubernetes API) could not answer."""


class RunStatus(BaseModel):
    attempt_id: str
    state: RunState
    detail: str = ""


class Executor(Protocol):
    def start(self, message: DispatchMessage) -> bool:
        """Start the run; False when it already existed (duplicate delivery), True when new."""
        ...

    def status(self, attempt_id: str) -> RunStatus: ...

    def delete(self, attempt_id: str) -> None:
        """Stop and remove the run; a missing run is not an error."""
        ...
