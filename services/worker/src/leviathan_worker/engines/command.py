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

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Final

from leviathan_worker.engines.base import ChangeContext, EngineError
from leviathan_worker.sandbox import (
    DEFAULT_PIDS_MAX,
    SandboxSpec,
    SandboxTimeout,
    existing_hidden,
    reopened,
    run_sandboxed,
    sandbox_unavailable,
)

OUTPUT_PREFIX: Final = "  │ "
SANDBOX_TMP: Final = "/tmp"
_DEFAULT_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
_GIT_GUARDED: Final = ("config", "hooks", "info")
_CONTROL: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})


def command_environment(
    base: Mapping[str, str], task_file: Path, ctx: ChangeContext, tmpdir: str
) -> dict[str, str]:
    """The program's whole environment: an allowlist, so no credential can slip in.

    Only PATH and LANG come from ``base``, and not when they hold a secret.
    """
    env = {
        name: base[name]
        for name in ("PATH", "LANG")
        if name in base and not any(s and s in base[name] for s in ctx.secrets)
    }
    env.setdefault("PATH", _DEFAULT_PATH)
    env.update(
        HOME=str(ctx.scratch),
        TMPDIR=tmpdir,
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


def shown(line: str) -> str:
    """One line of the program's output as the console prints it: behind the prefix,
    control characters escaped (tabs kept). An escape sequence, a backspace or a line
    separator could otherwise move back over the prefix, or start a line, and pass
    for one of the worker's own (``✓ PR created: …``)."""
    if not line.isprintable():
        line = "".join(
            c.encode("unicode_escape").decode("ascii")
            if c != "\t" and unicodedata.category(c) in _CONTROL
            else c
            for c in line
        )
    return OUTPUT_PREFIX + line


def _relay(stream: IO[str], say: Callable[[str], None]) -> None:
    for line in stream:
        say(shown(line.rstrip("\n")))


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

    def _run(self, argv: list[str], ctx: ChangeContext, task_file: Path) -> int:
        reason = sandbox_unavailable()
        if reason is None:
            env = command_environment(os.environ, task_file, ctx, SANDBOX_TMP)
            _require_program(argv[0], env, ctx.checkout)
            return self._run_sandboxed(argv, ctx, env)
        if not self.allow_unsandboxed:
            raise EngineError(
                f"the change command needs a sandbox and none can be made here: {reason}; "
                "install bubblewrap and allow user namespaces, or set "
                "allow_unsandboxed_engine: true to run it as the worker's user"
            )
        if self.contained:
            ctx.say("Running in the Job's engine container: no secret, its own uid and volume")
        else:
            ctx.say(
                f"! Running the change command WITHOUT a sandbox ({reason}); "
                "allow_unsandboxed_engine is true, so it can read what the worker can"
            )
        env = command_environment(os.environ, task_file, ctx, str(ctx.scratch))
        _require_program(argv[0], env, ctx.checkout)
        return self._run_unsandboxed(argv, ctx, env)

    def _run_sandboxed(self, argv: list[str], ctx: ChangeContext, env: dict[str, str]) -> int:
        hidden = existing_hidden(self.hidden)
        spec = SandboxSpec(
            checkout=ctx.checkout.resolve(),
            scratch=ctx.scratch.resolve(),
            hidden=hidden,
            readonly=reopened(hidden),
            network=self.network,
            pids_max=self.pids_max,
        )
        network = "shared network" if self.network else "no network"
        try:
            run = run_sandboxed(
                spec, argv, env, self.timeout_seconds, lambda line: ctx.say(shown(line))
            )
        except SandboxTimeout:
            raise EngineError(
                f"the change command did not finish within {self.timeout_seconds:g} s"
            ) from None
        except (OSError, ValueError) as exc:
            raise EngineError(f"cannot start the change command's sandbox: {exc}") from None
        ctx.say(f"Sandbox: bubblewrap, uid 65534, {network}, pids limit: {run.pids_limit}")
        return run.code

    def _run_unsandboxed(self, argv: list[str], ctx: ChangeContext, env: dict[str, str]) -> int:
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


def _require_program(program: str, env: Mapping[str, str], cwd: Path) -> None:
    """A clear error for a missing program (bwrap's own would read as exit status 1)."""
    if os.sep in program:
        found = (cwd / program).is_file() and os.access(cwd / program, os.X_OK)
    else:
        found = shutil.which(program, path=env.get("PATH")) is not None
    if not found:
        raise EngineError(
            f"cannot start the change command {program!r}: not found or not executable"
        )


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
