"""result.json carries the gate's result and the engine's report to the publisher; it lies
in the engine's folder, so anything this module never writes is refused whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from leviathan_core.events import FailureReason
from leviathan_worker.engine_result import (
    MAX_OUTPUT_BYTES,
    MAX_REPORT_BYTES,
    MAX_RESULT_BYTES,
    MAX_SUMMARY_CHARS,
    AgentReport,
    EngineOutcome,
    GateResult,
    Usage,
    outcome_data,
    read_agent_report,
    read_result,
    tail_bytes,
    write_outcome,
)

GATE = GateResult(True, ("markdownlint", "docs/"), "ok\nall good", "exit status 0", 2, 1)
REPORT = AgentReport("Fixed the links.", "gpt-4o-mini", Usage(1200, 300, 1500, 4))


def good() -> dict[str, Any]:
    return outcome_data(EngineOutcome(True, gate=GATE, report=REPORT))


def written(tmp_path: Path, data: object) -> EngineOutcome:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return read_result(path)


def test_a_full_outcome_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    for outcome in (
        EngineOutcome(True, gate=GATE, report=REPORT),
        EngineOutcome(False, "bad", FailureReason.CHECKS_FAILED, GATE, AgentReport(model="m")),
        EngineOutcome(False, "crashed"),
        EngineOutcome(True, report=AgentReport("字\U0001f600" * 100, "", None)),
    ):
        write_outcome(path, outcome)
        assert read_result(path) == outcome


def test_the_largest_outcome_fits_the_reader_bound(tmp_path: Path) -> None:
    """Every field at its bound, every character as long as JSON can make it."""
    gate = GateResult(False, tuple(["\"\\" * 31] * 64), "\U0001f600" * (MAX_OUTPUT_BYTES // 4),
                      "\\" * 500, 3, 2)  # fmt: skip
    report = AgentReport('"' * MAX_SUMMARY_CHARS, "m" * 200, Usage(*[2**31 - 1] * 4))
    outcome = EngineOutcome(False, '"' * 2000, FailureReason.CHECKS_FAILED, gate, report)
    path = tmp_path / "result.json"
    write_outcome(path, outcome)
    assert path.stat().st_size <= MAX_RESULT_BYTES
    assert read_result(path) == outcome


def change(path: str, value: object) -> dict[str, Any]:
    data = good()
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (change("extra", 1), "unknown keys: extra"),
        (change("gate.secret", "x"), "gate has unknown keys: secret"),
        (change("report.html", "<b>"), "report has unknown keys: html"),
        (change("report.usage.cost", 3), "report.usage has unknown keys: cost"),
        (change("gate.passed", "yes"), "gate.passed is not a boolean"),
        (change("gate.runs", 0), "gate.runs or gate.repairs"),
        (change("gate.repairs", -1), "gate.runs or gate.repairs"),
        (change("gate.repairs", True), "gate.runs or gate.repairs"),
        (change("gate.command", []), "gate.command"),
        (change("gate.command", ["ok", 3]), "gate.command"),
        (change("gate.command", ["x" * 5000]), "gate.command"),
        (change("gate.output", "é" * MAX_OUTPUT_BYTES), "gate.output is too long"),
        (change("gate.status", KeyError), "gate lacks status"),
        (change("report.summary", "s" * (MAX_SUMMARY_CHARS + 1)), "report.summary"),
        (change("report.model", "gpt`<img>`"), "report.model is not a model name"),
        (change("report.usage.turns", 2**40), "holds a count that is not one"),
        (change("report.usage.turns", 1.5), "holds a count that is not one"),
        (change("message", 7), "message is not a string"),
        (change("reason", "checks_failed"), "reason"),  # an ok outcome has no reason
        ({"ok": False, "reason": "scope_violation"}, "reason is not"),
        ({"ok": True, "gate": "passed"}, "gate is not an object"),
    ],
)
def test_anything_not_written_here_is_refused(
    tmp_path: Path, data: dict[str, Any], expected: str
) -> None:
    outcome = written(tmp_path, data)
    assert outcome.ok is False and outcome.gate is None and outcome.report is None
    assert outcome.reason is FailureReason.ENGINE_FAILED
    assert expected in outcome.message, outcome.message


def test_an_oversized_result_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(good()) + " " * MAX_RESULT_BYTES)
    assert read_result(path) == EngineOutcome(
        False, "the engine phase's result is not a small regular file"
    )


# ---- agent-report.json, in the engine's scratch -------------------------------------


def report_from(tmp_path: Path, content: bytes) -> AgentReport | None:
    (tmp_path / "agent-report.json").write_bytes(content)
    return read_agent_report(tmp_path)


def test_the_engines_report_is_read_as_its_documented_shape(tmp_path: Path) -> None:
    raw = {"summary": "Fixed the links.", "model": "gpt-4o-mini", "extra": "dropped",
           "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                     "turns": 4, "cost": 9}}  # fmt: skip
    assert report_from(tmp_path, json.dumps(raw).encode()) == REPORT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"summary": "s" * 10_000}, AgentReport("s" * MAX_SUMMARY_CHARS)),
        ({"summary": "x", "model": "a model\n# heading"}, AgentReport("x")),
        ({"summary": "x", "usage": {"prompt_tokens": -1}}, AgentReport("x")),
        ({"summary": 3, "model": [], "usage": "many"}, None),
        ([1, 2], None),
    ],
)
def test_a_bad_part_of_the_report_is_left_out(
    tmp_path: Path, raw: object, expected: AgentReport | None
) -> None:
    assert report_from(tmp_path, json.dumps(raw).encode()) == expected


def test_a_report_that_is_large_a_link_or_not_json_is_ignored(tmp_path: Path) -> None:
    assert report_from(tmp_path, b"{" + b" " * MAX_REPORT_BYTES + b"}") is None
    assert report_from(tmp_path, b"not json") is None
    (tmp_path / "agent-report.json").unlink()
    assert read_agent_report(tmp_path) is None
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"summary": "forged"}))
    (tmp_path / "agent-report.json").symlink_to(target)
    assert read_agent_report(tmp_path) is None


def test_the_tail_is_cut_at_a_character_boundary() -> None:
    assert tail_bytes("abc", 8) == "abc"
    assert tail_bytes("é" * 10, 5) == "éé"
