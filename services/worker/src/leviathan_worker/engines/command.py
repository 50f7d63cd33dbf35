"""Run an external program (a script, a coding agent) to make the change.

The program runs in the checkout with a timeout, in its own process group,
with the task spec as a JSON file and without Leviathan's tokens in its
environment. It is not trusted: its output is prefixed so it cannot forge the
worker's console lines, it may not touch ``.git`` (hooks and config would run
code or redirect the push later), and whatever it changes is verified against
the task's scope like any other change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Final

from leviathan_worker.engines.base import ChangeContext, EngineError, mark_completed

OUTPUT_PREFIX: Final = "  │ "
_HIDDEN_NAME = re.compile(
    r"^(GITHUB_TOKEN|GH_TOKEN|GIT_ASKPASS|SSH_ASKPASS|GIT_CONFIG_(COUNT|KEY_\d+|VALUE_\d+)"
    r"|LEVIATHAN_.*)$"
)
_GIT_GUARDED: Final = ("config", "hooks", "info")


def command_environment(
    base: Mapping[str, str], task_file: Path, ctx: ChangeContext, secrets: Sequence[str]
) -> dict[str, str]:
    """The program's environment: the worker's, minus every credential Leviathan holds."""
    env = {
        name: value
        for name, value in base.items()
        if not _HIDDEN_NAME.match(name) and not any(s and s in value for s in secrets)
    }
    env.update(
        LEVIATHAN_TASK_FILE=str(task_file),
        LEVIATHAN_TASK=ctx.task_id,
        LEVIATHAN_ATTEMPT=ctx.attempt_id,
        LEVIATHAN_BRANCH=ctx.branch,
        GIT_TERMINAL_PROMPT="0",
    )
    return env


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


def _relay(stream: IO[str], say: Callable[[str], None]) -> None:
    for line in stream:
        say(OUTPUT_PREFIX + line.rstrip("\n"))


class CommandEngine:
    name = "command"
    full_checkout = True

    def __init__(self, argv: Sequence[str], timeout_seconds: float) -> None:
        if not argv:
            raise EngineError("change_command is empty")
        self.argv = list(argv)
        self.timeout_seconds = timeout_seconds

    def apply(self, ctx: ChangeContext) -> None:
        task_file = ctx.scratch / "task.json"
        task_file.write_text(json.dumps(task_spec(ctx), indent=2), encoding="utf-8")
        argv = [
            a.replace("{task_file}", str(task_file)).replace("{checkout}", str(ctx.checkout))
            for a in self.argv
        ]
        before = git_fingerprint(ctx.checkout)
        ctx.say(f"Running change command: {self.argv[0]} (timeout {self.timeout_seconds:g} s)")
        code = self._run(argv, ctx, command_environment(os.environ, task_file, ctx, ctx.secrets))
        if git_fingerprint(ctx.checkout) != before:
            raise EngineError("the change command modified .git (config, hooks or info)")
        if code != 0:
            raise EngineError(f"the change command exited with status {code}")
        ctx.say("✓ Change command finished")
        mark_completed(ctx)

    def _run(self, argv: list[str], ctx: ChangeContext, env: dict[str, str]) -> int:
        try:
            proc = subprocess.Popen(
                argv,
                cwd=ctx.checkout,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except OSError as exc:
            raise EngineError(f"cannot start the change command {argv[0]!r}: {exc}") from None
        assert proc.stdout is not None
        reader = threading.Thread(target=_relay, args=(proc.stdout, ctx.say), daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=self.timeout_seconds)
        except subprocess.TimeoutExpired:
            code = None
        _kill_group(proc)  # also what it left running in the background
        reader.join(5)
        if code is None:
            raise EngineError(
                f"the change command did not finish within {self.timeout_seconds:g} s"
            )
        return code


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
