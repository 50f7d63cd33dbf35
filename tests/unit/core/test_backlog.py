"""The strict backlog parser: whole-file errors, per-task problems, bombs and size."""

from __future__ import annotations

import dataclasses

import pytest

from leviathan_core import backlog as backlog_module
from leviathan_core.backlog import MAX_BACKLOG_BYTES, Backlog, BacklogError, parse_backlog


def one(extra: str) -> str:
    return "tasks:\n  - id: t1\n    title: T\n    allowed_paths: [docs/a.md]\n" + extra


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tasks: [\n", "line 1, column 8: invalid YAML"),
        ("tasks:\n  - id: a\n   title: x\n", "line 3"),
        ("", "got empty"),
        ("- a\n- b\n", "got list"),
        ("just a string", "got str"),
        ("other: 1\n", "missing the top-level 'tasks' key"),
        ("tasks: {a: 1}\n", "'tasks' must be a list"),
        (
            "tasks:\n  - id: a\n    title: A\n  - id: a\n    title: B\n",
            "duplicate task id 'a' at tasks[0] and tasks[1]",
        ),
        ("tasks: !!python/object:os.system {}\n", "'tasks' must be a list"),
        ("tasks: []\ntasks: []\n", "duplicate"),
    ],
)
def test_whole_file_errors(text: str, fragment: str) -> None:
    with pytest.raises(BacklogError) as info:
        parse_backlog(text, "b.yaml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("b.yaml:")


@pytest.mark.parametrize("pyyaml", [False, True], ids=["yaml-rs", "pyyaml"])
@pytest.mark.parametrize(
    ("text", "count", "line"),
    [
        ("tasks: []\n---\ntasks: []\n", 2, 2),
        ("---\ntasks: []\n---\n- a\n---\nother: 1\n", 3, 3),
        ("tasks: []\n---\n", 2, 2),
    ],
)
def test_several_yaml_documents_are_named_as_such(
    text: str, count: int, line: int, pyyaml: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both parsers (the Rust fast path and the PyYAML fallback) say what is wrong."""
    if pyyaml:
        monkeypatch.setattr(backlog_module, "yaml_rs", None)
    with pytest.raises(BacklogError) as info:
        parse_backlog(text, "b.yaml")
    error = info.value
    assert error.message == (
        f"the file holds {count} YAML documents (separated by '---'); a backlog is one document"
    )
    assert (error.path, error.line, error.column) == ("b.yaml", line, 1)
    assert "got list" not in str(error)


def test_a_single_list_document_is_still_a_wrong_shape() -> None:
    with pytest.raises(BacklogError, match="expected a mapping with a 'tasks' list, got list"):
        parse_backlog("---\n- a\n- b\n", "b.yaml")


def test_duplicate_ids_name_every_index() -> None:
    text = (
        "tasks:\n  - id: a\n    title: A\n  - id: b\n    title: B\n"
        "  - id: a\n    title: A2\n  - id: b\n    title: B2\n  - id: a\n    title: A3\n"
    )
    with pytest.raises(BacklogError) as info:
        parse_backlog(text, "b.yaml")
    assert info.value.message == (
        "duplicate task ids: 'a' at tasks[0], tasks[2] and tasks[4]; 'b' at tasks[1] and "
        "tasks[3]; every id must be unique (the choice would be ambiguous)"
    )


@pytest.mark.parametrize("pyyaml", [False, True], ids=["yaml-rs", "pyyaml"])
def test_a_yaml_error_carries_path_line_column_and_message(
    pyyaml: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pyyaml:
        monkeypatch.setattr(backlog_module, "yaml_rs", None)
    with pytest.raises(BacklogError) as info:
        parse_backlog("tasks:\n  - id: a\n   title: x\n", "b.yaml")
    error = info.value
    assert (error.path, error.line) == ("b.yaml", 3)
    assert error.column is not None
    assert error.message.startswith("invalid YAML: ")
    assert str(error) == f"b.yaml: line 3, column {error.column}: {error.message}"
    assert error.as_json() == {
        "path": "b.yaml",
        "line": 3,
        "column": error.column,
        "message": error.message,
    }


def test_empty_task_list_is_valid() -> None:
    assert parse_backlog("tasks: []\n").tasks == ()
    assert parse_backlog("tasks:\n").tasks == ()


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ("  - 42\n", "must be a mapping"),
        ("  - id: Bad_Id\n    title: x\n", "must match"),
        ("  - title: no id\n", "missing 'id'"),
        ("  - id: t2\n", "'title' is required"),
        (
            "  - id: t2\n    title: x\n    allowed_paths: docs/a.md\n",
            "'allowed_paths' must be a list",
        ),
        (
            "  - id: t2\n    title: x\n    allowed_paths: [1]\n",
            "'allowed_paths[0]' must be a string",
        ),
        ("  - id: t2\n    title: x\n    priority: urgent\n", "'priority' must be one of"),
        ("  - id: t2\n    title: x\n    priority: [high]\n", "'priority' must be one of"),
        ('  - id: "t2\\n"\n    title: x\n', "must match"),
        ("  - id: t2\n    title: x\n    status: 3\n", "'status' must be a string"),
        ("  - id: t2\n    title: x\n    dependencies: a\n", "'dependencies' must be a list"),
    ],
)
def test_broken_task_is_kept_with_its_problem(item: str, problem: str) -> None:
    backlog = parse_backlog(one(item))
    assert backlog.tasks[0].problem is None
    broken = backlog.tasks[1]
    assert broken.problem is not None and problem in broken.problem
    assert broken.index == 1


def test_task_without_usable_id_is_named_by_index() -> None:
    backlog = parse_backlog(one("  - title: x\n"))
    assert backlog.tasks[1].name == 1
    assert backlog.tasks[0].name == "t1"


@pytest.mark.parametrize(
    ("value", "ready", "note"),
    [
        ("true", True, None),
        ("'true'", False, "ready is str 'true', not the YAML boolean true"),
        ("1", False, "ready is int 1"),
        ("yes", False, "ready is str 'yes'"),  # YAML 1.1 'yes' is a bool in PyYAML? no: str
        ("false", False, "ready is not true"),
    ],
)
def test_ready_is_a_strict_boolean(value: str, ready: bool, note: str | None) -> None:
    task = parse_backlog(one(f"  - id: r\n    title: x\n    ready: {value}\n")).tasks[1]
    assert task.ready is ready
    if note is None:
        assert task.ready_note is None
    else:
        assert task.ready_note is not None and task.ready_note.startswith(note.split(" (")[0][:12])


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines.append("tasks: *a8")
    with pytest.raises(BacklogError, match="alias"):
        parse_backlog("\n".join(lines))


def test_small_aliases_are_fine() -> None:
    text = (
        "common: &crit [It builds]\n"
        "tasks:\n  - id: a\n    title: A\n    allowed_paths: [docs/a.md]\n"
        "    acceptance_criteria: *crit\n"
    )
    assert parse_backlog(text).tasks[0].acceptance_criteria == ("It builds",)


def test_size_cap() -> None:
    text = "tasks: []\n" + "#" * MAX_BACKLOG_BYTES
    with pytest.raises(BacklogError, match="byte cap"):
        parse_backlog(text)


def test_ten_thousand_tasks_parse() -> None:
    body = "".join(
        f"  - id: task-{i}\n    title: Task {i}\n    ready: true\n"
        f"    allowed_paths: [docs/t{i}.md]\n"
        for i in range(10_000)
    )
    backlog = parse_backlog("tasks:\n" + body)
    assert len(backlog.tasks) == 10_000
    assert backlog.tasks[-1].id == "task-9999"
    assert backlog.get("task-5000") is not None


def test_unicode_titles_and_unknown_keys_are_kept() -> None:
    text = one("  - id: u\n    title: Überblick – ✓\n    last_attempt_id: x\n")
    task = parse_backlog(text).tasks[1]
    assert task.title == "Überblick – ✓"
    assert task.raw["last_attempt_id"] == "x"


def test_positions_index_usable_ids_and_get_skips_broken_tasks() -> None:
    text = (
        "tasks:\n  - id: a\n    title: A\n  - title: no id\n"
        "  - id: c\n    title: 3\n  - id: d\n    title: D\n"
    )
    backlog = parse_backlog(text)
    assert dict(backlog.positions) == {"a": 0, "c": 2, "d": 3}
    assert backlog.get("d") is backlog.tasks[3]
    assert backlog.get("c") is None  # its title is not a string: kept, never run
    assert backlog.get("ghost") is None
    assert Backlog(backlog.tasks).positions == backlog.positions


def test_compared_paths_follow_the_allowed_paths() -> None:
    task = parse_backlog(one("")).tasks[0]
    assert task.compared_paths == ("docs/a.md",)
    moved = dataclasses.replace(task, allowed_paths=("./docs//b.md", "../x", "docs/"))
    assert moved.compared_paths == ("docs/b.md", None, "docs/")
