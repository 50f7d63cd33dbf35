"""Run an external program (a script, a coding agent) to make the change.

The program is not trusted. It runs in a bubblewrap sandbox (see
``leviathan_worker.sandbox``): its own namespaces, uid 65534, the checkout
and its scratch dir as the only writable places, the worker's private
directories hidden, no network unless the target lists endpoints, and every
process it starts dies with it. Its environment is built from an allowlist,
so no credential can reach it. Where no sandbox can be made it refuses to
run unless ``allow_unsandboxed_engine`` is true. Its output is prefixed, with
control characters escaped, so it cannot forge the worker's console lines, and
whatever it changes is verified against the task's scope like any other change.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from leviathan_worker.confine import (
    OUTPUT_PREFIX,
    Confinement,
    ProgramError,
    program_environment,
    run_program,
    shown,
)
from leviathan_worker.engines.base import ChangeContext, EngineError
from leviathan_worker.sandbox import DEFAULT_PIDS_MAX, sandbox_unavailable

__all__ = ["OUTPUT_PREFIX", "CommandEngine", "command_environment", "shown"]

_GIT_GUARDED: Final = ("config", "hooks", "info")


def command_environment(
    base: Mapping[str, str], task_file: Path, ctx: ChangeContext, tmpdir: str
) -> dict[str, str]:
    """The program's whole environment: the shared allowlist plus its task file."""
    return program_environment(base, ctx, tmpdir, LEVIATHAN_TASK_FILE=str(task_file))


def task_spec(ctx: ChangeContext) -> dict[str, object]:
    task = ctx.task
    return {
        "id": ctx.task_id,
        "title": task.title,
        "scope": task.scope,
        "priority": task.priority,
        "allowed_paths": list(task.allowed_paths),
        "acceptance_criteria": list(task.acceptance_criteria),
        "attempt_id": ctx.attempt_id,
        "branch": ctx.branch,
        "checkout": str(ctx.checkout),
    }


def git_fingerprint(checkout: Path) -> str:
    """A hash of ``.git/config``, hooks and info: what a program must leave alone."""
    digest = hashlib.sha256()
    for name in _GIT_GUARDED:
        root = checkout / ".git" / name
        paths = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in paths:
            digest.update(str(path.relative_to(checkout)).encode())
            if path.is_symlink():
                digest.update(b"->" + os.readlink(path).encode())
            elif path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


class CommandEngine:
    name = "command"
    full_checkout = True

    def __init__(
        self,
        argv: Sequence[str],
        timeout_seconds: float,
        *,
        hidden: Sequence[Path] = (),
        network: bool = False,
        allow_unsandboxed: bool = False,
        contained: bool = False,
        pids_max: int = DEFAULT_PIDS_MAX,
    ) -> None:
        """``hidden``: the worker's private paths (workspace root, data, cache, HOME)."""
        if not argv:
            raise EngineError("change_command is empty")
        self.argv = list(argv)
        self.timeout_seconds = timeout_seconds
        self.hidden = tuple(hidden)
        self.network = network
        self.allow_unsandboxed = allow_unsandboxed or contained
        # In a Job's engine container the container is the sandbox (no secret, own uid).
        self.contained = contained
        self.pids_max = pids_max

    def apply(self, ctx: ChangeContext) -> None:
        task_file = ctx.scratch / "task.json"
        task_file.write_text(json.dumps(task_spec(ctx), indent=2), encoding="utf-8")
        argv = [
            a.replace("{task_file}", str(task_file)).replace("{checkout}", str(ctx.checkout))
            for a in self.argv
        ]
        before = git_fingerprint(ctx.checkout)
        ctx.say(f"Running change command: {self.argv[0]} (timeout {self.timeout_seconds:g} s)")
        code = self._run(argv, ctx, task_file)
        if git_fingerprint(ctx.checkout) != before:
            raise EngineError("the change command modified .git (config, hooks or info)")
        if code != 0:
            raise EngineError(f"the change command exited with status {code}")
        ctx.say("✓ Change command finished")

    @property
    def confinement(self) -> Confinement:
        return Confinement(
            self.hidden, self.network, self.allow_unsandboxed, self.contained, self.pids_max
        )

    def _run(self, argv: list[str], ctx: ChangeContext, task_file: Path) -> int:
        try:
            return run_program(
                self.confinement,
                "the change command",
                argv,
                ctx,
                lambda tmpdir: command_environment(os.environ, task_file, ctx, tmpdir),
                self.timeout_seconds,
                lambda line: ctx.say(shown(line)),
                sandbox_unavailable(),
            )
        except ProgramError as exc:
            raise EngineError(str(exc)) from None
