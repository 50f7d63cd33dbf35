"""``python -I -m leviathan_worker.agent <scratch>/agent-task.json``: one run of the agent.

Started by the agent engine inside its sandbox: the checkout is the working
directory, scratch is the task file's folder, and the key is in
``LEVIATHAN_AGENT_API_KEY``. It always leaves ``agent-outcome.json`` (how it
ended, with ``budget_exhausted`` or ``engine_failed``) and ``agent-report.json``
(summary, model, usage) in scratch and exits 0; any other exit means it
crashed. The key is scrubbed from everything it prints or writes.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from openai import OpenAI

from leviathan_core.events import FailureReason
from leviathan_worker.agent import (
    ENV_API_KEY,
    ENV_FEEDBACK,
    OUTCOME_FILE,
    REPORT_FILE,
    STATE_FILE,
)
from leviathan_worker.agent.loop import (
    MAX_RETRIES,
    REQUEST_TIMEOUT,
    BudgetExhausted,
    Budgets,
    EndpointFailed,
    Model,
    State,
    run,
)
from leviathan_worker.agent.prompt import feedback_message, system_message, task_message
from leviathan_worker.agent.tools import Workspace

REDACTED: Final = "[REDACTED]"
SUMMARY_CAP: Final = 4000
MODEL_CAP: Final = 200
FEEDBACK_READ_CAP: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the run ended (``agent-outcome.json``, read by the agent engine)."""

    ok: bool
    message: str = ""
    reason: FailureReason = FailureReason.ENGINE_FAILED

    def json(self) -> str:
        reason = None if self.ok else self.reason.value
        return json.dumps({"ok": self.ok, "message": self.message[:2000], "reason": reason})


class CannotRun(Exception):
    """The run cannot start: a bad task file, or a repair run without what it resumes."""


class Scrubbed:
    """Printing and writing with the key replaced, whatever produced the text."""

    def __init__(self, key: str) -> None:
        self.key = key

    def text(self, value: str) -> str:
        return value.replace(self.key, REDACTED) if self.key else value

    def say(self, line: str) -> None:
        print(self.text(line), flush=True)

    def write(self, path: Path, data: Any) -> None:
        """Whole or not at all (a crash mid-write must not leave half a state)."""
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(self.text(json.dumps(data, ensure_ascii=False)), encoding="utf-8")
        os.replace(temporary, path)


def report(state: State, model: str) -> dict[str, Any]:
    """``agent-report.json``, the shape the PR body reads."""
    return {
        "summary": (state.summary or "")[:SUMMARY_CAP],
        "model": model[:MODEL_CAP],
        "usage": {
            "prompt_tokens": state.prompt_tokens,
            "completion_tokens": state.completion_tokens,
            "total_tokens": state.total_tokens,
            "turns": state.turns,
        },
    }


def _feedback(scratch: Path, named: str) -> str:
    """The checks' output: a regular file inside scratch, read with a bound."""
    path = Path(os.path.realpath(named))
    if scratch not in path.parents:
        raise CannotRun(f"{ENV_FEEDBACK} must name a file inside the scratch folder")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise CannotRun(f"{ENV_FEEDBACK} must name a regular file")
        return handle.read(FEEDBACK_READ_CAP).decode("utf-8", errors="replace")


def _state(spec: dict[str, Any], scratch: Path) -> State:
    """A fresh conversation, or the saved one plus the checks' feedback (a repair run)."""
    task = spec["task"]
    feedback = os.environ.get(ENV_FEEDBACK)
    if not feedback:
        state = State(nonce=secrets.token_hex(8))
        state.messages = [system_message(task["allowed_paths"], state.nonce), task_message(task)]
        return state
    try:
        state = State.load(json.loads((scratch / STATE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise CannotRun(f"a repair run needs the saved conversation: {exc}") from None
    state.summary = None
    state.messages.append(feedback_message(_feedback(scratch, feedback), state.nonce))
    return state


def attempt(spec: dict[str, Any], scratch: Path, key: str, out: Scrubbed) -> Outcome:
    settings = spec["settings"]
    state = _state(spec, scratch)
    budgets = Budgets(
        int(settings["max_turns"]), int(settings["max_tokens"]), float(settings["wall_seconds"])
    )
    client = OpenAI(
        base_url=settings["base_url"], api_key=key, max_retries=MAX_RETRIES, timeout=REQUEST_TIMEOUT
    )
    model = Model(client, settings["model"], float(settings["temperature"]), settings["endpoint"])
    workspace = Workspace(
        Path(spec["task"]["checkout"]),
        spec["task"]["allowed_paths"],
        spec["prefixes"],
        state.nonce,
        state.read_bytes,
    )
    save: Callable[[State], None] = lambda s: out.write(scratch / STATE_FILE, s.dump())  # noqa: E731
    out.say(
        f"Agent: model {model.name} at {model.endpoint}; used so far {state.turns}/"
        f"{budgets.max_turns} turns, {state.spent}/{budgets.max_tokens} tokens"
    )
    try:
        run(model, budgets, workspace, state, save, out.say)
    except BudgetExhausted as exc:
        return Outcome(False, f"the agent's budget is exhausted: {exc}",
                             FailureReason.BUDGET_EXHAUSTED)  # fmt: skip
    except EndpointFailed as exc:
        return Outcome(False, f"the agent failed: {exc}")
    finally:
        out.write(scratch / REPORT_FILE, report(state, model.name))
    out.say(f"✓ Agent finished: {state.turns} turns, {state.spent} tokens")
    return Outcome(True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -I -m leviathan_worker.agent <scratch>/agent-task.json", flush=True)
        return 2
    task_file = Path(os.path.realpath(argv[0]))
    scratch = task_file.parent
    key = os.environ.pop(ENV_API_KEY, "")  # in the client only, not in anything inherited
    out = Scrubbed(key)
    try:
        spec = json.loads(task_file.read_text(encoding="utf-8"))
        outcome = attempt(spec, scratch, key, out)
    except (CannotRun, OSError) as exc:
        outcome = Outcome(False, f"the agent cannot run: {exc}")
    except Exception as exc:  # the worker must still learn how the run ended
        outcome = Outcome(False, f"the agent crashed: {type(exc).__name__}: {exc}")
    (scratch / OUTCOME_FILE).write_text(out.text(outcome.json()), encoding="utf-8")
    if not outcome.ok:
        out.say(f"✗ {outcome.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
