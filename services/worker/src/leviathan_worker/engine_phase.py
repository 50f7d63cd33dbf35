"""The engine's phase: run the change engine on its own tree and say how it ended.

In one process (``leviathan-worker run``) the worker calls ``apply_engine``
directly; the command engine then runs inside its bubblewrap sandbox. In a
Kubernetes Job, ``leviathan-worker engine`` runs the same function in a
container of its own that holds no secret and sees only the engine folder,
and leaves ``result.json`` there for the publisher. That file is written
where the engine can write too, so the publisher reads it as untrusted data:
bounded, and only to decide between "the engine finished" and
``engine_failed`` with its message.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from leviathan_core.backlog import TaskEntry
from leviathan_worker.engines import ChangeContext, ChangeEngine, EngineError
from leviathan_worker.layout import Layout

MAX_RESULT_BYTES: Final = 64 * 1024
MAX_MESSAGE_CHARS: Final = 2000


@dataclass(frozen=True, slots=True)
class EngineOutcome:
    ok: bool
    message: str = ""


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
) -> EngineOutcome:
    """Run ``engine`` on the engine's tree; an EngineError becomes a failed outcome."""
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
    try:
        engine.apply(context)
    except EngineError as exc:
        return EngineOutcome(False, str(exc)[:MAX_MESSAGE_CHARS])
    return EngineOutcome(True)


def write_outcome(layout: Layout, outcome: EngineOutcome) -> None:
    layout.result.write_text(json.dumps({"ok": outcome.ok, "message": outcome.message}))


def read_outcome(layout: Layout) -> EngineOutcome:
    """The engine phase's verdict, read defensively (it sits in the engine's folder)."""
    try:
        info = layout.result.lstat()
    except FileNotFoundError:
        return EngineOutcome(False, "the engine phase left no result (it was killed or crashed)")
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESULT_BYTES:
        return EngineOutcome(False, "the engine phase's result is not a small regular file")
    fd = os.open(layout.result, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(MAX_RESULT_BYTES)
    try:
        data = json.loads(raw)
        ok, message = data["ok"], data.get("message", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return EngineOutcome(False, "the engine phase's result does not parse")
    if not isinstance(ok, bool) or not isinstance(message, str):
        return EngineOutcome(False, "the engine phase's result has the wrong types")
    return EngineOutcome(ok, message[:MAX_MESSAGE_CHARS])


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
