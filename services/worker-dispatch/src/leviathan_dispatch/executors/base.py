"""What the dispatcher needs of an executor: start a run, and read it like the reconciler."""

from __future__ import annotations

from typing import Protocol

from leviathan_core.messages import DispatchMessage
from leviathan_core.runs import RunInspector


class Executor(RunInspector, Protocol):
    def start(self, message: DispatchMessage) -> bool:
        """Start the run; False when it already existed (duplicate delivery), True when new."""
        ...
