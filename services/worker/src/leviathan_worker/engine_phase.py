"""The engine's phase: run the change engine on its own tree, then the quality gate.

In one process (``leviathan-worker run``) the worker calls ``apply_engine``
directly; the command engine and the gate then run inside the bubblewrap
sandbox. In a Kubernetes Job, ``leviathan-worker engine`` runs the same
function in a container of its own that holds no secret and sees only the
engine folder, and leaves ``result.json`` there for the publisher. That file
is written where the engine can write too, so the publisher reads it as
untrusted data (``leviathan_worker.engine_result``): bounded, allowlisted
keys, and only to decide between "the engine finished" (with the gate's
result and the engine's report for the PR body), ``engine_failed`` and
``checks_failed``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from leviathan_core.backlog import TaskEntry
from leviathan_core.events import FailureReason
from leviathan_worker.engine_result import (
    MAX_MESSAGE_CHARS,
    MAX_RESULT_BYTES,
    EngineOutcome,
    read_agent_report,
    read_result,
)
from leviathan_worker.engine_result import write_outcome as _write
from leviathan_worker.engines import ChangeContext, ChangeEngine, EngineError
from leviathan_worker.gate import Gate, check, failure_message
from leviathan_worker.layout import Layout

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_RESULT_BYTES",
    "EngineJob",
    "EngineOutcome",
    "apply_engine",
    "read_outcome",
    "share_with_group",
    "write_outcome",
]


@dataclass(frozen=True, slots=True)
class EngineJob:
    """What the engine may know about the attempt (no token, no control plane)."""

    task: TaskEntry
    task_id: str
    attempt_id: str
    branch: str
    prefixes: Sequence[str]


def apply_engine(
    engine: ChangeEngine,
    layout: Layout,
    job: EngineJob,
    say: Callable[[str], None],
    secrets: tuple[str, ...] = (),
    gate: Gate | None = None,
) -> EngineOutcome:
    """Run ``engine`` on the engine's tree, then ``gate`` (with repairs) when there is one.

    An EngineError becomes a failed outcome (``engine_failed``), a gate that still
    fails one with ``checks_failed``; the engine's report rides along either way.
    """
    layout.scratch.mkdir(parents=True, exist_ok=True)
    context = ChangeContext(
        checkout=layout.target,
        scratch=layout.scratch,
        task=job.task,
        task_id=job.task_id,
        attempt_id=job.attempt_id,
        branch=job.branch,
        prefixes=job.prefixes,
        say=say,
        secrets=secrets,
    )
    result = None
    try:
        engine.apply(context)
        if gate is not None:
            result = check(gate, engine, context)
    except EngineError as exc:
        report = read_agent_report(layout.scratch)
        return EngineOutcome(False, str(exc)[:MAX_MESSAGE_CHARS], exc.reason, report=report)
    report = read_agent_report(layout.scratch)
    if result is not None and not result.passed:
        message = failure_message(result, MAX_MESSAGE_CHARS)
        return EngineOutcome(False, message, FailureReason.CHECKS_FAILED, result, report)
    return EngineOutcome(True, gate=result, report=report)


def write_outcome(layout: Layout, outcome: EngineOutcome) -> None:
    _write(layout.result, outcome)


def read_outcome(layout: Layout) -> EngineOutcome:
    """The engine phase's verdict, read defensively (it sits in the engine's folder)."""
    return read_result(layout.result)


def share_with_group(root: Path) -> None:
    """Make the engine's folder writable by the pod's group: the engine container runs
    as another uid in the same group (fsGroup), and must be able to change the tree.

    The folder itself may be a volume's root, owned by root and already group-writable
    (fsGroup): its mode is left alone when it cannot be changed.
    """
    with contextlib.suppress(PermissionError):
        os.chmod(root, 0o2775)  # noqa: S103 - group-shared by design, no other access
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o2775)  # noqa: S103 - as above
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, (os.stat(path).st_mode & 0o777) | 0o660)
