"""``change_engine: agent``: a coding agent on an OpenAI-compatible endpoint, sandboxed.

The worker does not run the model's tool calls itself: it starts the agent
program (``python -I -m leviathan_worker.agent``, see that package) with the
command engine's confinement (``leviathan_worker.confine``): the bubblewrap
sandbox, the environment allowlist, every process killed at the end. What
differs from the command engine:

- network is on, and the configuration refuses an endpoint that
  ``engine_network`` does not list;
- the API key, read from the worker's variable ``agent_api_key_env``, is the
  only secret-bearing variable inside, always named ``LEVIATHAN_AGENT_API_KEY``.
  bwrap reads the environment from a pipe, so the key is on no command line;
  and it is scrubbed from every line and message the worker passes on;
- this interpreter's installation is re-opened read-only where a hidden path
  (HOME) covers it, and ``-I`` keeps the checkout off ``sys.path``, so a
  repository cannot plant a module the program would import;
- the program's own verdict (``agent-outcome.json``, read with bounds) decides
  between success, ``engine_failed`` and ``budget_exhausted``.

A repair run (``repair``, or ``LEVIATHAN_AGENT_FEEDBACK`` in the worker's
environment) resumes the saved conversation within the budgets left.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from leviathan_adapters.git_auth import scrub
from leviathan_core.config import AutonomyConfig
from leviathan_core.endpoints import url_endpoint
from leviathan_core.events import FailureReason
from leviathan_worker.agent import ENV_API_KEY, ENV_FEEDBACK, OUTCOME_FILE, TASK_FILE
from leviathan_worker.agent.prompt import description
from leviathan_worker.confine import (
    SANDBOX_TMP,
    Confinement,
    ProgramError,
    program_environment,
    run_program,
    shown,
)
from leviathan_worker.engines.base import ChangeContext, EngineError
from leviathan_worker.engines.command import git_fingerprint, task_spec
from leviathan_worker.sandbox import sandbox_unavailable

WHAT: Final = "the agent"
GRACE_SECONDS: Final = 30.0  # past the wall budget, the sandbox is killed
MAX_OUTCOME_BYTES: Final = 16 * 1024
MAX_MESSAGE_CHARS: Final = 2000
_REASONS: Final = {r.value: r for r in (FailureReason.ENGINE_FAILED,
                                        FailureReason.BUDGET_EXHAUSTED)}  # fmt: skip


def runtime_paths(hidden: Sequence[Path]) -> tuple[Path, ...]:
    """This interpreter's installation and import roots that a hidden path covers.

    The sandbox re-opens them read-only. A root that is, or contains, a hidden
    path is never re-opened: that would uncover it whole.
    """
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).parent}
    roots |= {Path(p) for p in sys.path if p and os.path.isabs(p)}
    hidden = [Path(os.path.realpath(h)) for h in hidden]
    found: set[Path] = set()
    for root in roots:
        real = Path(os.path.realpath(root))
        if not real.exists() or not any(real.is_relative_to(h) for h in hidden):
            continue
        if not any(h.is_relative_to(real) for h in hidden):
            found.add(real)
    return tuple(sorted(p for p in found if not any(q in p.parents for q in found)))


@dataclasses.dataclass(frozen=True, slots=True)
class AgentSettings:
    """The target's agent keys; the key itself is read at run time, never stored."""

    base_url: str
    model: str
    api_key_env: str
    temperature: float
    max_turns: int
    max_tokens: int
    wall_seconds: int

    @classmethod
    def of(cls, config: AutonomyConfig) -> AgentSettings:
        if config.agent_base_url is None or config.agent_model is None:
            raise EngineError("change_engine is 'agent' but agent_base_url or agent_model is unset")
        return cls(config.agent_base_url, config.agent_model, config.agent_api_key_env,
                   config.agent_temperature, config.agent_max_turns, config.agent_max_tokens,
                   config.agent_wall_seconds)  # fmt: skip


class AgentEngine:
    name = "agent"
    full_checkout = True

    def __init__(self, settings: AgentSettings, confinement: Confinement) -> None:
        self.settings = settings
        self.confinement = dataclasses.replace(
            confinement,
            network=True,
            # The sandbox's /tmp is empty too: an interpreter installed under it is re-opened.
            readonly=runtime_paths((*confinement.hidden, Path(SANDBOX_TMP))),
        )

    def apply(self, ctx: ChangeContext) -> None:
        """A fresh run, or a repair run when ``LEVIATHAN_AGENT_FEEDBACK`` is set."""
        named = os.environ.get(ENV_FEEDBACK)
        self._run(ctx, Path(named) if named else None)

    def repair(self, ctx: ChangeContext, feedback: Path) -> None:
        """Resume the saved conversation with ``feedback`` (a file in scratch)."""
        self._run(ctx, feedback)

    def _run(self, ctx: ChangeContext, feedback: Path | None) -> None:
        key = os.environ.get(self.settings.api_key_env, "")
        if not key:
            raise EngineError(
                f"the agent's API key is not set: the worker's environment has no "
                f"{self.settings.api_key_env} (agent_api_key_env)"
            )
        say = ctx.say
        ctx = dataclasses.replace(
            ctx, say=lambda line: say(scrub(line, key)), secrets=(*ctx.secrets, key)
        )
        extra = {ENV_FEEDBACK: str(self._feedback(ctx, feedback))} if feedback else {}
        secret = {ENV_API_KEY: key}  # bwrap reads it from a pipe, not its command line
        task_file = ctx.scratch / TASK_FILE
        task_file.write_text(json.dumps(self._spec(ctx)), encoding="utf-8")
        (ctx.scratch / OUTCOME_FILE).unlink(missing_ok=True)
        before = git_fingerprint(ctx.checkout)
        timeout = self.settings.wall_seconds + GRACE_SECONDS
        argv = [sys.executable, "-I", "-B", "-m", "leviathan_worker.agent", str(task_file)]
        verb = "Repairing" if feedback else "Running"
        ctx.say(f"{verb} the agent: {self.settings.model} (wall budget "
                f"{self.settings.wall_seconds} s)")  # fmt: skip
        started = time.monotonic()
        try:
            code = run_program(
                self.confinement,
                WHAT,
                argv,
                ctx,
                lambda tmp: program_environment(os.environ, ctx, tmp, **extra, **secret),
                timeout,
                lambda line: ctx.say(shown(line)),
                sandbox_unavailable(),
            )
        except ProgramError as exc:
            reason = FailureReason.ENGINE_FAILED
            if time.monotonic() - started >= timeout:
                reason = FailureReason.BUDGET_EXHAUSTED
            raise EngineError(scrub(str(exc), key), reason) from None
        if git_fingerprint(ctx.checkout) != before:
            raise EngineError("the agent modified .git (config, hooks or info)")
        ok, message, reason = read_outcome(ctx.scratch / OUTCOME_FILE, code)
        if not ok:
            raise EngineError(scrub(message, key), reason)
        ctx.say("✓ Agent finished")

    def _spec(self, ctx: ChangeContext) -> dict[str, object]:
        task = {**task_spec(ctx), "description": description(ctx.task.raw)}
        settings = dataclasses.asdict(self.settings)
        del settings["api_key_env"]
        settings["endpoint"] = url_endpoint(self.settings.base_url)
        return {"task": task, "settings": settings, "prefixes": list(ctx.prefixes)}

    @staticmethod
    def _feedback(ctx: ChangeContext, feedback: Path) -> Path:
        """The feedback file, resolved; it must be a regular file inside scratch."""
        path = Path(os.path.realpath(feedback))
        scratch = Path(os.path.realpath(ctx.scratch))
        if scratch not in path.parents or not path.is_file():
            raise EngineError(f"{ENV_FEEDBACK} must name a readable file inside {scratch}")
        return path


def read_outcome(path: Path, code: int) -> tuple[bool, str, FailureReason]:
    """The program's verdict; it ran in the sandbox, so the file is read as untrusted."""
    crashed = (False, f"the agent exited with status {code} and left no verdict",
               FailureReason.ENGINE_FAILED)  # fmt: skip
    if code != 0:
        return crashed
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_OUTCOME_BYTES:
            return crashed
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(MAX_OUTCOME_BYTES))
    except (OSError, ValueError):
        return crashed
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        return crashed
    message = data.get("message")
    reason = _REASONS.get(data.get("reason", ""), FailureReason.ENGINE_FAILED)
    text = message[:MAX_MESSAGE_CHARS] if isinstance(message, str) else "the agent failed"
    return data["ok"], text, reason
