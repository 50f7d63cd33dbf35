"""Run an untrusted program where no secret is: the command engine's and the quality gate's.

Both run the engine's tree, so both are treated alike: a bubblewrap sandbox
(``leviathan_worker.sandbox``) when one can be made, else a refusal unless
``allow_unsandboxed_engine`` is true (or the process already is the Job's
engine container, which is the sandbox there); an environment built from an
allowlist; every process killed when the program ends; and each output line
handed on raw, for the caller to print behind ``OUTPUT_PREFIX`` with control
characters escaped (``shown``), so the program cannot forge the worker's lines.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from leviathan_worker.sandbox import (
    DEFAULT_PIDS_MAX,
    SandboxSpec,
    SandboxTimeout,
    existing_hidden,
    reopened,
    run_sandboxed,
)

if TYPE_CHECKING:  # engines.command imports this module
    from leviathan_worker.engines.base import ChangeContext

OUTPUT_PREFIX: Final = "  │ "
SANDBOX_TMP: Final = "/tmp"
_DEFAULT_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
_CONTROL: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})


class ProgramError(RuntimeError):
    """The program could not run to its end: missing, no sandbox allowed, or timed out."""


@dataclass(frozen=True, slots=True)
class Confinement:
    """Where a program of the engine's may run; the same settings for engine and gate."""

    hidden: tuple[Path, ...] = ()  # the worker's private paths (workspace, data, cache, HOME)
    network: bool = False
    allow_unsandboxed: bool = False
    contained: bool = False  # the Job's engine container: no secret, its own uid and volume
    pids_max: int = DEFAULT_PIDS_MAX
    readonly: tuple[Path, ...] = ()  # re-opened read-only inside hidden paths (the agent's Python)


def program_environment(
    base: Mapping[str, str], ctx: ChangeContext, tmpdir: str, **extra: str
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
        **extra,
        LEVIATHAN_TASK=ctx.task_id,
        LEVIATHAN_ATTEMPT=ctx.attempt_id,
        LEVIATHAN_BRANCH=ctx.branch,
        GIT_TERMINAL_PROMPT="0",
    )
    return env


def escaped(line: str) -> str:
    """``line`` with control characters, escape sequences and line separators escaped
    (tabs kept): nothing in it can move the cursor or start a line of its own."""
    if line.isprintable():
        return line
    return "".join(
        c.encode("unicode_escape").decode("ascii")
        if c != "\t" and unicodedata.category(c) in _CONTROL
        else c
        for c in line
    )


def shown(line: str) -> str:
    """One line of the program's output as the console prints it: behind the prefix,
    escaped, so it cannot pass for one of the worker's own (``✓ PR created: …``)."""
    return OUTPUT_PREFIX + escaped(line)


def run_program(
    confinement: Confinement,
    what: str,
    argv: Sequence[str],
    ctx: ChangeContext,
    env_for: Callable[[str], dict[str, str]],
    timeout: float,
    on_line: Callable[[str], None],
    unavailable: str | None,
) -> int:
    """Run ``argv`` in ``ctx.checkout``; its exit status. ``what`` names it in messages
    ("the change command"); ``env_for(tmpdir)`` builds its environment; ``unavailable``
    is why no sandbox can be made here (None: one can). Raises ProgramError."""
    if unavailable is None:
        env = env_for(SANDBOX_TMP)
        _require_program(what, argv[0], env, ctx.checkout)
        return _sandboxed(confinement, what, argv, ctx, env, timeout, on_line)
    if not confinement.allow_unsandboxed:
        raise ProgramError(
            f"{what} needs a sandbox and none can be made here: {unavailable}; "
            "install bubblewrap and allow user namespaces, or set "
            "allow_unsandboxed_engine: true to run it as the worker's user"
        )
    if confinement.contained:
        ctx.say("Running in the Job's engine container: no secret, its own uid and volume")
    else:
        ctx.say(
            f"! Running {what} WITHOUT a sandbox ({unavailable}); "
            "allow_unsandboxed_engine is true, so it can read what the worker can"
        )
    env = env_for(str(ctx.scratch))
    _require_program(what, argv[0], env, ctx.checkout)
    return _unsandboxed(what, argv, ctx.checkout, env, timeout, on_line)


def _sandboxed(
    confinement: Confinement,
    what: str,
    argv: Sequence[str],
    ctx: ChangeContext,
    env: dict[str, str],
    timeout: float,
    on_line: Callable[[str], None],
) -> int:
    hidden = existing_hidden(confinement.hidden)
    spec = SandboxSpec(
        checkout=ctx.checkout.resolve(),
        scratch=ctx.scratch.resolve(),
        hidden=hidden,
        readonly=(*reopened(hidden), *confinement.readonly),
        network=confinement.network,
        pids_max=confinement.pids_max,
    )
    network = "shared network" if confinement.network else "no network"
    try:
        run = run_sandboxed(spec, argv, env, timeout, on_line)
    except SandboxTimeout:
        raise ProgramError(f"{what} did not finish within {timeout:g} s") from None
    except (OSError, ValueError) as exc:
        raise ProgramError(f"cannot start {what}'s sandbox: {exc}") from None
    ctx.say(f"Sandbox: bubblewrap, uid 65534, {network}, pids limit: {run.pids_limit}")
    return run.code


def _relay(stream: IO[str], on_line: Callable[[str], None]) -> None:
    for line in stream:
        on_line(line.rstrip("\n"))


def _unsandboxed(
    what: str,
    argv: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    on_line: Callable[[str], None],
) -> int:
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise ProgramError(f"cannot start {what} {argv[0]!r}: {exc}") from None
    assert proc.stdout is not None
    reader = threading.Thread(target=_relay, args=(proc.stdout, on_line), daemon=True)
    reader.start()
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
    _kill_group(proc)  # also what it left running in the background
    reader.join(5)
    if code is None:
        raise ProgramError(f"{what} did not finish within {timeout:g} s")
    return code


def _require_program(what: str, program: str, env: Mapping[str, str], cwd: Path) -> None:
    """A clear error for a missing program (bwrap's own would read as exit status 1)."""
    if os.sep in program:
        found = (cwd / program).is_file() and os.access(cwd / program, os.X_OK)
    else:
        found = shutil.which(program, path=env.get("PATH")) is not None
    if not found:
        raise ProgramError(f"cannot start {what} {program!r}: not found or not executable")


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
