"""The quality gate: the target's ``verify_command``, run on the engine's tree.

It runs after the engine, whatever the engine, in the engine's phase and with
the engine's confinement (``leviathan_worker.confine``): the bubblewrap
sandbox, the environment allowlist, no network unless ``engine_network``, no
secret. So in a Kubernetes Job it belongs to the engine container, and
``result.json`` carries its result to the publisher.

The gate checks; it must not change the change. What it writes in the tree
(``.pytest_cache``, ``site/``) is removed after each run, and a run that
changed or deleted a file of the tree fails. Its output is kept as a bounded
tail, control characters escaped and the worker's secrets scrubbed.

On failure an engine that can repair (``RepairingEngine``) gets the output in
a file in its scratch folder and tries again, at most ``verify_repair_turns``
times. The gate is a quality check, not a security control: the engine wrote
the tree it runs, tests included.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from leviathan_adapters.git_auth import scrub
from leviathan_core.config import AutonomyConfig
from leviathan_worker.confine import (
    Confinement,
    ProgramError,
    escaped,
    program_environment,
    run_program,
    shown,
)
from leviathan_worker.engine_result import MAX_OUTPUT_BYTES, MAX_STATUS_CHARS, GateResult
from leviathan_worker.engines.base import (
    FEEDBACK_FILE,
    ChangeContext,
    ChangeEngine,
    RepairingEngine,
)
from leviathan_worker.sandbox import sandbox_unavailable
from leviathan_worker.verify import scratch_listing

WHAT = "the verify command"
LINE_BREAK = " ⏎ "


@dataclass(frozen=True, slots=True)
class Gate:
    argv: tuple[str, ...]
    timeout_seconds: float
    repair_turns: int
    confinement: Confinement

    @property
    def shown_command(self) -> str:
        return shlex.join(self.argv)


def make_gate(
    config: AutonomyConfig, *, hidden: Sequence[Path] = (), contained: bool = False
) -> Gate | None:
    """The target's gate, confined like its command engine; None without ``verify_command``."""
    if not config.verify_command:
        return None
    confinement = Confinement(
        hidden=tuple(hidden),
        network=bool(config.engine_network),
        allow_unsandboxed=config.allow_unsandboxed_engine or contained,
        contained=contained,
    )
    return Gate(
        tuple(config.verify_command),
        config.verify_timeout_seconds,
        config.verify_repair_turns,
        confinement,
    )


class _Tail:
    """The last MAX_OUTPUT_BYTES of the output: escaped lines, secrets scrubbed."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self.lines: deque[str] = deque()
        self.size = 0
        self.secrets = [s for s in secrets if s]

    def add(self, line: str) -> None:
        for secret in self.secrets:
            line = scrub(line, secret)
        line = escaped(line)[: MAX_OUTPUT_BYTES // 2]
        self.lines.append(line)
        self.size += len(line.encode()) + 1
        while self.size > MAX_OUTPUT_BYTES and self.lines:
            self.size -= len(self.lines.popleft().encode()) + 1

    def text(self) -> str:
        return "\n".join(self.lines)


def _clean_up(checkout: Path, before: dict[str, tuple[int, int]]) -> list[str]:
    """Remove what the run added; the paths it changed or deleted (a failure)."""
    after = scratch_listing(checkout, [checkout / ".git"])
    changed = sorted(p for p, v in before.items() if after.get(p) != v)
    added = set(after) - set(before)
    for path in sorted(added):
        if any(parent.as_posix() in added for parent in Path(path).parents):
            continue  # its folder goes as a whole
        target = checkout / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
    return changed


def run_once(gate: Gate, ctx: ChangeContext) -> tuple[bool, str, str]:
    """One run of the gate: (passed, output tail, how it ended)."""
    tail = _Tail(ctx.secrets)

    def on_line(line: str) -> None:
        tail.add(line)
        ctx.say(shown(line))

    ctx.say(f"Running quality gate: {gate.shown_command} (timeout {gate.timeout_seconds:g} s)")
    before = scratch_listing(ctx.checkout, [ctx.checkout / ".git"])
    try:
        code = run_program(
            gate.confinement,
            WHAT,
            gate.argv,
            ctx,
            lambda tmpdir: program_environment(os.environ, ctx, tmpdir),
            gate.timeout_seconds,
            on_line,
            sandbox_unavailable(),
        )
        status = f"exit status {code}"
    except ProgramError as exc:
        code, status = None, str(exc)
    changed = _clean_up(ctx.checkout, before)
    if changed:
        code = None
        status = f"{WHAT} changed files of the engine's tree: {', '.join(changed[:5])}"
    return code == 0, tail.text(), escaped(status)[:MAX_STATUS_CHARS]


def feedback_text(gate: Gate, status: str, output: str) -> str:
    return (
        f"The quality gate failed.\nCommand: {gate.shown_command}\nResult: {status}\n"
        f"Output (its last {MAX_OUTPUT_BYTES} bytes):\n{output}\n"
    )


def check(gate: Gate, engine: ChangeEngine, ctx: ChangeContext) -> GateResult:
    """Run the gate, letting an engine that can repair try again after each failure.

    An EngineError from a repair goes to the caller (``engine_failed``)."""
    say: Callable[[str], None] = ctx.say
    runs = repairs = 0
    while True:
        runs += 1
        passed, output, status = run_once(gate, ctx)
        result = GateResult(passed, gate.argv, output, status, runs, repairs)
        if passed:
            say(f"✓ Quality gate passed: {gate.shown_command}")
            return result
        say(f"✗ Quality gate failed: {status}")
        if not isinstance(engine, RepairingEngine) or repairs >= gate.repair_turns:
            return result
        repairs += 1
        feedback = ctx.scratch / FEEDBACK_FILE
        feedback.write_text(feedback_text(gate, status, output), encoding="utf-8")
        say(f"Asking the {engine.name} engine to repair (turn {repairs} of {gate.repair_turns})")
        engine.repair(ctx, feedback)


def failure_message(result: GateResult, limit: int) -> str:
    """checks_failed's message: the command, how it ended, the repairs, the output's tail.

    One line (output lines joined by ``LINE_BREAK``): the worker's last console line is
    the failure line, and no output line may pass for one of the worker's own."""
    head = (
        f"{WHAT} `{escaped(shlex.join(result.command))}` failed ({result.status}) "
        f"after {result.repairs} repair turn(s); its output ends: "
    )
    output = LINE_BREAK.join(result.output.splitlines())
    room = max(0, limit - len(head))
    return head + (output[-room:] if room else "")
