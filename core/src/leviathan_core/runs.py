"""What a worker run looks like from outside, whoever runs it.

Kubernetes owns Job truth and the local executor owns process truth; both
answer the same two questions (``RunInspector``), so the reconciler needs no
special case and never starts anything.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

RunState = Literal["pending", "running", "succeeded", "failed", "missing"]


class ExecutorUnavailable(RuntimeError):
    """The run backend (e.g. the Kubernetes API) could not answer."""


class ExecutorRejected(ExecutorUnavailable):
    """The backend answered but refused the run (invalid spec, forbidden, no program).

    A subclass of ``ExecutorUnavailable`` so callers that only know the base
    contract still fail closed; callers that know it skip pointless retries.
    """


class RunStatus(BaseModel):
    attempt_id: str
    state: RunState
    detail: str = ""


class RunInspector(Protocol):
    """Read and stop runs: all the reconciler needs of an executor."""

    def status(self, attempt_id: str) -> RunStatus: ...

    def delete(self, attempt_id: str) -> None:
        """Stop and remove the run; a missing run is not an error."""
        ...
