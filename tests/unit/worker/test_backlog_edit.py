"""The backlog edit changes exactly the task's fields and no other byte."""

from __future__ import annotations

import difflib

import pytest
import yaml

from leviathan_worker.backlog_edit import BacklogEditError, render_scalar, set_task_fields

FIELDS: dict[str, str | bool] = {
    "status": "completed",
    "ready": False,
    "last_attempt_id": "attempt-a-12345678",
}

INDENTED = """\
# top comment
tasks:
  - id: a   # first
    title: "A task"
    ready: true  # ready now
    status: pending
    allowed_paths:
      - docs/a.md
    # trailing comment in a

  # section B
  - id: b
    title: 'B task'
    ready: true
    allowed_paths: [docs/b.md]
owner: someone   # after tasks
"""

FLUSH = """\
tasks:
- id: a
  title: A
  status:
  allowed_paths: [docs/a.md]
- id: b
  title: B
"""


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_existing_values_are_replaced_in_place_keeping_comments() -> None:
    after = set_task_fields(INDENTED, "a", FIELDS)
    assert changed_lines(INDENTED, after) == [
        "-    ready: true  # ready now",
        "-    status: pending",
        "+    ready: false  # ready now",
        "+    status: completed",
        "+    last_attempt_id: attempt-a-12345678",
    ]
    assert "    - docs/a.md\n    last_attempt_id: attempt-a-12345678\n    # trailing" in after


def test_last_task_gets_new_keys_before_the_next_top_level_key() -> None:
    after = set_task_fields(INDENTED, "b", FIELDS)
    assert changed_lines(INDENTED, after) == [
        "-    ready: true",
        "+    ready: false",
        "+    status: completed",
        "+    last_attempt_id: attempt-a-12345678",
    ]
    assert yaml.safe_load(after)["owner"] == "someone"


def test_empty_value_and_zero_indent_sequences() -> None:
    after = set_task_fields(FLUSH, "a", FIELDS)
    assert changed_lines(FLUSH, after) == [
        "-  status:",
        "+  status: completed",
        "+  ready: false",
        "+  last_attempt_id: attempt-a-12345678",
    ]


def test_flow_style_entry_is_edited_inside_its_braces() -> None:
    text = "tasks:\n- {id: a, ready: true}\n- {id: b}\n"
    after = set_task_fields(text, "a", {"ready": False, "branch": "agent/x"})
    assert after == "tasks:\n- {id: a, ready: false, branch: agent/x}\n- {id: b}\n"


def test_crlf_line_endings_are_kept() -> None:
    text = "tasks:\r\n  - id: a\r\n    title: A\r\n"
    after = set_task_fields(text, "a", {"status": "completed"})
    assert after == "tasks:\r\n  - id: a\r\n    title: A\r\n    status: completed\r\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (None, "null"),
        (3, "3"),
        ("agent/backlog-propose-attempt-x-1", "agent/backlog-propose-attempt-x-1"),
        ("yes", '"yes"'),
        ("123", '"123"'),
        ("a: b", '"a: b"'),
        ("", '""'),
        ("#x", '"#x"'),
    ],
)
def test_render_scalar_quotes_whatever_yaml_would_misread(value: object, text: str) -> None:
    assert render_scalar(value) == text  # type: ignore[arg-type]
    assert yaml.safe_load(f"k: {text}")["k"] == value


@pytest.mark.parametrize(
    ("text", "task", "message"),
    [
        ("tasks:\n  - id: a\n", "zzz", "task 'zzz' not found"),
        ("tasks: {}\n", "a", "'tasks' is not a list"),
        ("- a\n", "a", "expected a mapping"),
        ("tasks:\n  - id: a\n    status: [x]\n", "a", "holds a list or mapping"),
        ("tasks: [\n", "a", "not valid YAML"),
    ],
)
def test_unusable_backlogs_are_refused(text: str, task: str, message: str) -> None:
    with pytest.raises(BacklogEditError, match=message.replace("[", r"\[")):
        set_task_fields(text, task, FIELDS)


def test_block_scalar_value_is_replaced_whole() -> None:
    text = "tasks:\n  - id: a\n    status: >\n      pending\n      still\n    title: A\n"
    after = set_task_fields(text, "a", {"status": "completed"})
    assert after == "tasks:\n  - id: a\n    status: completed\n    title: A\n"


def test_anchor_elsewhere_is_left_alone() -> None:
    text = "tasks:\n  - id: a\n    meta: &m {ready: true}\n  - id: b\n    meta: *m\n"
    after = set_task_fields(text, "a", {"ready": False})
    assert yaml.safe_load(after)["tasks"][1]["meta"] == {"ready": True}


def test_edit_that_would_break_an_alias_is_refused() -> None:
    text = "tasks:\n  - id: a\n    ready: &r true\n  - id: b\n    ready: *r\n"
    with pytest.raises(BacklogEditError, match="editing task 'a' broke it"):
        set_task_fields(text, "a", {"ready": False})
