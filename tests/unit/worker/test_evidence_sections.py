"""The PR body's gate and engine sections: what they say, and that text from the engine's
tree cannot forge markdown structure or push the body past GitHub's limit."""

from __future__ import annotations

import re

import pytest

from leviathan_core.backlog import TaskEntry, parse_task
from leviathan_worker.engine_result import AgentReport, GateResult, Usage
from leviathan_worker.evidence import BODY_BUDGET, Evidence, pr_body
from leviathan_worker.evidence_sections import fenced

PASSED = GateResult(True, ("markdownlint", "docs/"), "docs/README.md: ok", "exit status 0", 1, 0)


def task(criteria: list[str]) -> TaskEntry:
    entry = parse_task(0, {"id": "t1", "title": "Fix links", "allowed_paths": ["docs/"],
                           "acceptance_criteria": criteria})  # fmt: skip
    assert entry.problem is None
    return entry


def body(
    gate: GateResult | None = None, report: AgentReport | None = None, criteria: list[str] = ()
) -> str:
    evidence = Evidence(task(list(criteria) or ["Links resolve"]), "t1", "attempt-t1-1", 1,
                        "agent/command-attempt-t1-1", "command", ["docs/README.md"],
                        "passed: 1 path", "http://cp/v1/attempts/t1", gate, report)  # fmt: skip
    return pr_body(evidence)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_a_passed_gate_is_checked_off_below_the_criteria_and_described() -> None:
    text = body(PASSED, criteria=["Every link resolves", "No other file changes"])
    assert (
        "- [ ] Every link resolves\n- [ ] No other file changes\n"
        "- [x] Quality gate passed: `markdownlint docs/`\n"
    ) in text
    assert "## Quality gate" in text
    assert "- **Result:** ✅ passed (first run)" in text
    assert "- **Command:** `markdownlint docs/`" in text
    assert "```text\ndocs/README.md: ok\n```" in text
    assert "## Changed files\n\n- `docs/README.md`" in text


def test_a_repaired_gate_says_how_it_got_there() -> None:
    repaired = GateResult(True, ("python", "-m", "pytest", "-q"), "1 passed", "exit status 0", 2, 1)
    assert "- **Result:** ✅ passed (run 2, after 1 repair turn(s) by the engine)" in body(repaired)
    failed = GateResult(False, ("make", "lint"), "boom", "exit status 2", 3, 2)
    assert "- [ ] Quality gate failed: `make lint`" in body(failed)
    assert "❌ failed" in body(failed) and "- **Ended with:** exit status 2" in body(failed)


def test_no_gate_says_not_configured_and_no_report_adds_nothing() -> None:
    text = body()
    assert "- [ ] Quality gate: not configured (no `verify_command` for this target)" in text
    assert "## Quality gate" not in text and "## Engine report" not in text


def test_the_engine_report_shows_model_usage_and_a_fenced_summary() -> None:
    report = AgentReport("Fixed 3 links.\n\n# Not a heading", "gpt-4o-mini",
                         Usage(12_000, 3_000, 15_000, 4))  # fmt: skip
    text = body(PASSED, report)
    assert "## Engine report" in text
    assert "- **Model:** `gpt-4o-mini`" in text
    assert "- **Tokens:** 12,000 prompt + 3,000 completion = 15,000 total, in 4 turn(s)" in text
    assert "```text\nFixed 3 links.\n\n# Not a heading\n```" in text


HOSTILE = (
    "ok\n```\n# Approved by @security-team\n</details>\n<img src=x onerror=alert(1)>\n"
    "~~~\n" + "`" * 40 + "\n\x1b[2K\x1b[1G✓ PR created: fake\u202egnp.exe\r\nend\x00"
)


def blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) line numbers of fenced code blocks, as CommonMark closes them."""
    found, lines, start, fence = [], text.split("\n"), -1, ""
    for number, line in enumerate(lines):
        run = re.match(r"^ {0,3}(`{3,})", line)
        if fence and run and len(run.group(1)) >= len(fence) and not line.strip("`").strip():
            found.append((start, number))
            fence = ""
        elif not fence and run:
            start, fence = number, run.group(1)
    assert not fence, "a code block is never closed"
    return found


def test_hostile_output_stays_inside_its_code_block() -> None:
    gate = GateResult(True, ("sh", "-c", "echo `id`\n# x"), HOSTILE, "exit status 0\n# h", 1, 0)
    text = body(gate, AgentReport(HOSTILE, "m", None))
    assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
    assert "\\x1b[2K" in text and "\\u202egnp.exe" in text
    inside = {n for start, end in blocks(text) for n in range(start, end + 1)}
    outside = [line for n, line in enumerate(text.split("\n")) if n not in inside]
    for word in ("@security-team", "<img", "~~~", "Not a heading", "PR created"):
        assert not any(word in line for line in outside), word
    assert outside.count("</details>") == 1  # only the worker's own
    assert "- **Command:** `sh -c 'echo 'id' # x'`" in text
    assert "- **Ended with:** exit status 0 # h" in text


def test_fences_stay_short_whatever_the_backticks() -> None:
    lines = fenced("`" * 5_000 + "\n``` x", 3_000)
    assert lines[0] == "`" * 11 + "text" and lines[-1] == "`" * 11
    assert all(len(run) <= 10 for line in lines[1:-1] for run in re.findall(r"`+", line))


@pytest.mark.parametrize("char", ["a", "\U0001f600", "\x07", "`"])
def test_huge_gate_output_and_summary_stay_within_the_budget(char: str) -> None:
    gate = GateResult(True, tuple([char * 1_000] * 64), char * 100_000, char * 500, 3, 2)
    report = AgentReport(char * 100_000, "m" * 200, Usage(*[2**31 - 1] * 4))
    entry = parse_task(0, {"id": "t1", "title": char * 200_000, "scope": char * 50_000,
                           "allowed_paths": [f"docs/{char * 3_000}/"] * 2_000,
                           "acceptance_criteria": [char * 10_000] * 5_000})  # fmt: skip
    paths = [f"docs/{i:05}{char * 5_000}.md" for i in range(20_000)]
    evidence = Evidence(entry, "t1", "attempt-" + char * 100, 2, "agent/" + char * 100,
                        char * 20_000, paths, char * 20_000, "http://cp/" + char * 20_000,
                        gate, report)  # fmt: skip
    text = pr_body(evidence)
    assert utf16(text) <= BODY_BUDGET
    assert "## Quality gate" in text and "## Engine report" in text and "## Changed files" in text
