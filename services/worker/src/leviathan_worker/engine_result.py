"""How the engine phase ended, as data the publisher may read: ``result.json``.

In a Kubernetes Job the publisher sees only the engine's folder, and the
engine can write there too, so everything here is untrusted when read back:
the file must be a small regular file (never followed through a link), every
key must be one this module writes, and every value must have its type and
stay within its bound. Anything else is refused whole and the attempt ends
with ``engine_failed``. What the PR body shows of it is escaped again there.

``agent-report.json`` is what a model-backed engine may leave in its scratch
folder (summary, model, token usage). The engine phase reads it with the same
bounds and copies a validated subset into ``result.json``; an invalid report
is left out, never an error.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from leviathan_core.events import FailureReason

MAX_RESULT_BYTES: Final = 256 * 1024
MAX_REPORT_BYTES: Final = 64 * 1024
MAX_MESSAGE_CHARS: Final = 2000
MAX_OUTPUT_BYTES: Final = 8 * 1024  # the gate output's tail, UTF-8
MAX_SUMMARY_CHARS: Final = 4000
MAX_STATUS_CHARS: Final = 500
MAX_COMMAND_ARGS, MAX_COMMAND_CHARS = 64, 4000
MAX_TOKENS: Final = 2**31 - 1
MODEL_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")
USAGE_KEYS: Final = ("prompt_tokens", "completion_tokens", "total_tokens", "turns")
# The reason codes an engine phase may end with; result.json's "reason" is one of these.
ENGINE_REASONS: Final = (
    FailureReason.ENGINE_FAILED,
    FailureReason.CHECKS_FAILED,
    FailureReason.BUDGET_EXHAUSTED,
)
_REASONS: Final = {r.value: r for r in ENGINE_REASONS}


class ResultRefused(ValueError):
    """result.json holds something this module never writes."""


@dataclass(frozen=True, slots=True)
class GateResult:
    """The quality gate's last run: the command, whether it passed, its output's tail."""

    passed: bool
    command: tuple[str, ...]
    output: str = ""
    status: str = ""  # "exit status 1", "did not finish within 300 s", …
    runs: int = 1
    repairs: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    turns: int


@dataclass(frozen=True, slots=True)
class AgentReport:
    """What a model-backed engine says it did; every part optional."""

    summary: str = ""
    model: str = ""
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class EngineOutcome:
    ok: bool
    message: str = ""
    reason: FailureReason = FailureReason.ENGINE_FAILED
    gate: GateResult | None = None
    report: AgentReport | None = None


def tail_bytes(text: str, limit: int = MAX_OUTPUT_BYTES) -> str:
    """The end of ``text`` within ``limit`` UTF-8 bytes, cut at a character boundary."""
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[-limit:].decode("utf-8", "ignore")


def _read_small(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular file of at most ``limit`` bytes; None otherwise (no links)."""
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit + 1)[:limit]


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_TOKENS else None


def _usage(raw: object) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    counts = [_count(raw.get(key)) for key in USAGE_KEYS]
    if any(c is None for c in counts):
        return None
    return Usage(*(c for c in counts if c is not None))


def read_agent_report(scratch: Path) -> AgentReport | None:
    """The validated subset of ``agent-report.json`` in the engine's scratch, if any."""
    raw = _read_small(scratch / "agent-report.json", MAX_REPORT_BYTES)
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    summary, model = data.get("summary"), data.get("model")
    report = AgentReport(
        summary=summary[:MAX_SUMMARY_CHARS] if isinstance(summary, str) else "",
        model=model if isinstance(model, str) and MODEL_NAME.fullmatch(model) else "",
        usage=_usage(data.get("usage")),
    )
    return report if report != AgentReport() else None


# ---- result.json ---------------------------------------------------------------------------


def outcome_data(outcome: EngineOutcome) -> dict[str, Any]:
    data: dict[str, Any] = {"ok": outcome.ok, "message": outcome.message}
    if not outcome.ok:
        data["reason"] = outcome.reason.value
    if (gate := outcome.gate) is not None:
        data["gate"] = {"passed": gate.passed, "command": list(gate.command),
                        "output": gate.output, "status": gate.status, "runs": gate.runs,
                        "repairs": gate.repairs}  # fmt: skip
    if (report := outcome.report) is not None:
        data["report"] = {"summary": report.summary, "model": report.model}
        if (usage := report.usage) is not None:
            data["report"]["usage"] = {key: getattr(usage, key) for key in USAGE_KEYS}
    return data


def write_outcome(layout_result: Path, outcome: EngineOutcome) -> None:
    layout_result.write_text(json.dumps(outcome_data(outcome), ensure_ascii=False), "utf-8")


def _keys(data: object, allowed: set[str], required: set[str], what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ResultRefused(f"{what} is not an object")
    if unknown := set(data) - allowed:
        raise ResultRefused(f"{what} has unknown keys: {', '.join(sorted(unknown))[:200]}")
    if missing := required - set(data):
        raise ResultRefused(f"{what} lacks {', '.join(sorted(missing))}")
    return data


def _text(value: object, limit: int, what: str) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ResultRefused(f"{what} is not a string of at most {limit} characters")
    return value


def _gate(raw: object) -> GateResult:
    keys = {"passed", "command", "output", "status", "runs", "repairs"}
    data = _keys(raw, keys, keys, "gate")
    command = data["command"]
    if (
        not isinstance(command, list)
        or not 1 <= len(command) <= MAX_COMMAND_ARGS
        or not all(isinstance(a, str) for a in command)
        or sum(len(a) for a in command) > MAX_COMMAND_CHARS
    ):
        raise ResultRefused("gate.command is not a short list of strings")
    output = _text(data["output"], MAX_OUTPUT_BYTES, "gate.output")
    status = _text(data["status"], MAX_STATUS_CHARS, "gate.status")
    runs, repairs = _count(data["runs"]), _count(data["repairs"])
    if not isinstance(data["passed"], bool) or len(output.encode()) > MAX_OUTPUT_BYTES:
        raise ResultRefused("gate.passed is not a boolean, or gate.output is too long")
    if runs is None or repairs is None or runs < 1:
        raise ResultRefused("gate.runs or gate.repairs is not a count")
    return GateResult(data["passed"], tuple(command), output, status, runs, repairs)


def _report(raw: object) -> AgentReport:
    data = _keys(raw, {"summary", "model", "usage"}, {"summary", "model"}, "report")
    model = _text(data["model"], 200, "report.model")
    if model and not MODEL_NAME.fullmatch(model):
        raise ResultRefused("report.model is not a model name")
    usage = None
    if "usage" in data:
        _keys(data["usage"], set(USAGE_KEYS), set(USAGE_KEYS), "report.usage")
        if (usage := _usage(data["usage"])) is None:
            raise ResultRefused("report.usage holds a count that is not one")
    return AgentReport(_text(data["summary"], MAX_SUMMARY_CHARS, "report.summary"), model, usage)


def parse_outcome(data: object) -> EngineOutcome:
    """The outcome ``data`` describes; raises ResultRefused for anything not written here."""
    keys = _keys(data, {"ok", "message", "reason", "gate", "report"}, {"ok"}, "the result")
    ok = keys["ok"]
    if not isinstance(ok, bool):
        raise ResultRefused("ok is not a boolean")
    message = _text(keys.get("message", ""), MAX_MESSAGE_CHARS, "message")
    reason = _REASONS.get(keys.get("reason", FailureReason.ENGINE_FAILED.value))
    if reason is None or (ok and "reason" in keys):
        raise ResultRefused("reason is not an engine's reason code of a failed engine")
    gate = _gate(keys["gate"]) if "gate" in keys else None
    report = _report(keys["report"]) if "report" in keys else None
    return EngineOutcome(ok, message, reason, gate, report)


def read_result(path: Path) -> EngineOutcome:
    """The engine phase's verdict, read defensively (it sits in the engine's folder)."""
    if not os.path.lexists(path):
        return EngineOutcome(False, "the engine phase left no result (it was killed or crashed)")
    raw = _read_small(path, MAX_RESULT_BYTES)
    if raw is None:
        return EngineOutcome(False, "the engine phase's result is not a small regular file")
    try:
        data = json.loads(raw)
    except ValueError:
        return EngineOutcome(False, "the engine phase's result does not parse")
    try:
        return parse_outcome(data)
    except ResultRefused as exc:
        return EngineOutcome(False, f"the engine phase's result is refused: {exc}")
