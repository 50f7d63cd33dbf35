"""The PR body's sections about what the engine and the quality gate said.

Their text comes from the engine's tree (the gate ran it) or from the engine
itself, so it is untrusted: it is fenced in a code block whose fence is longer
than any run of backticks left in it (runs beyond ten are shortened), with
control characters escaped, so it cannot close the block, start a heading or
a list, or mention anyone. Each part is cut to a fixed share of the body's
budget. The worker's secrets are scrubbed before the text gets here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Final

from leviathan_worker.confine import escaped
from leviathan_worker.engine_result import AgentReport, GateResult

MAX_OUTPUT_SHOWN: Final = 2_500  # characters of the gate output's tail
MAX_SUMMARY_SHOWN: Final = 1_500  # characters of the engine's summary
MAX_COMMAND_SHOWN: Final = 500
MAX_STATUS_SHOWN: Final = 300
_BACKTICKS: Final = re.compile(r"`{11,}")


def _one_line(text: str, limit: int) -> str:
    line = escaped(text.replace("\r", " ").replace("\n", " "))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def command_text(command: Sequence[str]) -> str:
    """The command as inline code: one bounded line, no backtick to end the span."""
    return "`" + _one_line(shlex.join(command), MAX_COMMAND_SHOWN).replace("`", "'") + "`"


def fenced(text: str, limit: int, *, keep_end: bool = False) -> list[str]:
    """``text`` as a fenced code block that nothing in it can close or escape."""
    text = "\n".join(escaped(line) for line in text.replace("\r\n", "\n").split("\n"))
    if len(text) > limit:  # cut once escaped: an escape is longer than its character
        text = "…" + text[-(limit - 1) :] if keep_end else text[: limit - 1] + "…"
    body = [_BACKTICKS.sub("`" * 10, line) for line in text.split("\n")]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", *body, fence]


def gate_item(gate: GateResult | None) -> str:
    """The checklist line that says how the quality gate ended."""
    if gate is None:
        return "- [ ] Quality gate: not configured (no `verify_command` for this target)"
    mark, word = ("x", "passed") if gate.passed else (" ", "failed")
    return f"- [{mark}] Quality gate {word}: {command_text(gate.command)}"


def _runs(gate: GateResult) -> str:
    if gate.repairs == 0:
        return "first run" if gate.runs == 1 else f"{gate.runs} runs"
    return f"run {gate.runs}, after {gate.repairs} repair turn(s) by the engine"


def gate_section(gate: GateResult | None) -> list[str]:
    """The gate's result, command, runs and the tail of its output."""
    if gate is None:
        return []
    result = "✅ passed" if gate.passed else "❌ failed"
    return [
        "## Quality gate",
        "",
        f"- **Result:** {result} ({_runs(gate)})",
        f"- **Command:** {command_text(gate.command)}",
        f"- **Ended with:** {_one_line(gate.status or '-', MAX_STATUS_SHOWN)}",
        "",
        "<details><summary>The end of its output</summary>",
        "",
        *fenced(gate.output or "(no output)", MAX_OUTPUT_SHOWN, keep_end=True),
        "",
        "</details>",
        "",
    ]


def report_section(report: AgentReport | None) -> list[str]:
    """What the engine says it did, its model and the tokens it used."""
    if report is None:
        return []
    lines = ["## Engine report", ""]
    if report.model:  # a validated model name: letters, digits and ._:/@+-
        lines.append(f"- **Model:** `{report.model}`")
    if (usage := report.usage) is not None:
        lines.append(
            f"- **Tokens:** {usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} "
            f"completion = {usage.total_tokens:,} total, in {usage.turns:,} turn(s)"
        )
    if report.summary:
        lines += ["", "Summary, as the engine wrote it:", "", *fenced(report.summary,
                  MAX_SUMMARY_SHOWN)]  # fmt: skip
    return [*lines, ""]
