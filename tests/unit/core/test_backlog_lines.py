"""Each task's line in the backlog, and the issues a task names (validated)."""

from __future__ import annotations

import pytest

from leviathan_core.backlog import parse_backlog
from leviathan_core.backlog_lines import task_line

TEXT = """\
# header comment

tasks:
  - id: first   # a comment
    title: First
    allowed_paths: [docs/a.md]
  - title: Second, id below
    id: "second"
    notes:
      id: first
  - {id: flow, title: Flow}
  - id: 'third'
    title: Third
    issues: [12, "#40"]
  - id: fourth
    title: Fourth
    issue: 7
"""


def test_each_block_task_has_its_line() -> None:
    backlog = parse_backlog(TEXT)
    assert backlog.line_of("first") == 4
    assert backlog.line_of("second") == 8
    assert backlog.line_of("third") == 12
    assert backlog.line_of("fourth") == 15
    assert backlog.line_of("flow") is None  # flow style: no line, no link
    assert backlog.line_of("missing") is None


def test_an_entry_start_wins_over_a_nested_key_with_the_same_value() -> None:
    text = "tasks:\n  - title: A\n    meta:\n      id: b\n  - id: b\n    title: B\n"
    assert task_line(text, "b") == 5
    assert task_line("tasks:\n  - id: ab\n", "a") is None  # whole values only
    assert task_line("tasks:\r\n  - id: a\r\n", "a") == 2


def test_issues_are_read_and_validated() -> None:
    backlog = parse_backlog(TEXT)
    third, fourth = backlog.get("third"), backlog.get("fourth")
    assert third is not None and third.issues == (12, 40)
    assert fourth is not None and fourth.issues == (7,)
    assert backlog.get("first") is not None and backlog.get("first").issues == ()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("issue: 0", "'issue' must be an issue number such as 123, got 0"),
        ("issue: true", "'issue' must be an issue number such as 123, got True"),
        ("issues: 12", "'issues' must be a list of issue numbers, got int"),
        ("issues: [1, x]", "'issues[1]' must be an issue number such as 123, got 'x'"),
        ("issue: 1.5", "'issue' must be an issue number such as 123, got 1.5"),
    ],
)
def test_a_bad_issue_makes_the_task_invalid(entry: str, problem: str) -> None:
    backlog = parse_backlog(f"tasks:\n  - id: t\n    title: T\n    {entry}\n")
    assert backlog.get("t") is None
    assert backlog.problems == [f"task t: {problem}"]
