"""Set a few fields of one task in ``.leviathan/backlog.yaml`` with a minimal text edit.

A full YAML round trip re-indents lists, moves comments and respaces inline
comments, so the PR diff would touch lines that belong to other tasks. Instead
ruamel.yaml's round-trip composer locates the exact character span of every
value, the edit rewrites only those spans (or adds lines at the end of the
task's entry), and the result is parsed again and compared with the intended
data: a file this editor cannot change safely is refused, never mangled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from leviathan_core.backlog import BacklogError, load_yaml

Scalar = str | bool | int | None
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@+-]*$")
_RESERVED = re.compile(
    r"^(y|n|yes|no|on|off|true|false|null|~|[-+]?[0-9][0-9_.:eExXoObB+-]*|\.inf|\.nan)$",
    re.IGNORECASE,
)


class BacklogEditError(ValueError):
    """The backlog cannot be edited safely; the message names the file and the task."""


@dataclass(frozen=True, slots=True)
class _Splice:
    start: int
    end: int
    text: str


def render_scalar(value: Scalar) -> str:
    """YAML text for ``value``: plain where unambiguous, else double-quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if _PLAIN.match(value) and not _RESERVED.match(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _task_node(root: Node | None, task_id: str, source: str) -> MappingNode:
    if not isinstance(root, MappingNode):
        raise BacklogEditError(f"{source}: expected a mapping with a 'tasks' list")
    tasks = next((v for k, v in root.value if k.value == "tasks"), None)
    if not isinstance(tasks, SequenceNode):
        raise BacklogEditError(f"{source}: 'tasks' is not a list")
    for item in tasks.value:
        if not isinstance(item, MappingNode):
            continue
        for key, value in item.value:
            if key.value == "id" and isinstance(value, ScalarNode) and value.value == task_id:
                return item
    raise BacklogEditError(f"{source}: task {task_id!r} not found")


def _last_content_end(node: Node) -> int:
    """Index just past the last character of real content (not trailing comments)."""
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        end = int(node.end_mark.index)
        return end - 1 if node.end_mark.column == 0 and end > node.start_mark.index else end
    children: list[Node] = []
    if isinstance(node, MappingNode):
        for key, value in node.value:
            children += [key, value]
    elif isinstance(node, SequenceNode):
        children = list(node.value)
    return max((_last_content_end(c) for c in children), default=int(node.start_mark.index))


def _replace_value(text: str, key: ScalarNode, value: Node, new: str) -> _Splice:
    start, end = int(value.start_mark.index), int(value.end_mark.index)
    if not isinstance(value, ScalarNode):
        raise BacklogEditError(f"'{key.value}' holds a list or mapping, not a single value")
    if start == end:  # an empty (null) value: write right after the key's colon
        colon = text.index(":", int(key.end_mark.index))
        return _Splice(colon + 1, colon + 1, " " + new)
    tail = "\n" if text[start:end].endswith("\n") else ""
    return _Splice(start, end, new + tail)


def _additions(text: str, task: MappingNode, missing: list[tuple[str, str]]) -> _Splice:
    if not missing:
        return _Splice(0, 0, "")
    if task.flow_style:
        close = int(task.end_mark.index) - 1
        added = "".join(f", {k}: {v}" for k, v in missing)
        return _Splice(close, close, added)
    indent = " " * int(task.value[0][0].start_mark.column)
    newline = "\r\n" if "\r\n" in text else "\n"
    end = _last_content_end(task)
    line_end = text.find("\n", end)
    at = len(text) if line_end == -1 else line_end
    if at > 0 and text[at - 1] == "\r":
        at -= 1
    added = "".join(f"{newline}{indent}{k}: {v}" for k, v in missing)
    return _Splice(at, at, added)


def _apply(text: str, splices: list[_Splice]) -> str:
    for splice in sorted(splices, key=lambda s: s.start, reverse=True):
        text = text[: splice.start] + splice.text + text[splice.end :]
    return text


def _expected(before: Any, task_id: str, fields: Mapping[str, Scalar]) -> Any:
    for entry in before["tasks"]:
        if isinstance(entry, dict) and entry.get("id") == task_id:
            entry.update(fields)
    return before


def set_task_fields(
    text: str, task_id: str, fields: Mapping[str, Scalar], source: str = "backlog.yaml"
) -> str:
    """Return ``text`` with ``fields`` set on task ``task_id``; nothing else changes.

    Raises BacklogEditError when the task is missing or the edit cannot be
    proved to change exactly those fields.
    """
    try:
        root = YAML(typ="rt").compose(text)
        before = load_yaml(text, source)
    except (RuamelError, BacklogError) as exc:
        raise BacklogEditError(f"{source}: not valid YAML: {exc}") from None
    task = _task_node(root, task_id, source)
    existing = {k.value: (k, v) for k, v in task.value}
    splices: list[_Splice] = []
    missing: list[tuple[str, str]] = []
    for name, value in fields.items():
        rendered = render_scalar(value)
        if name in existing:
            key, node = existing[name]
            try:
                splices.append(_replace_value(text, key, node, rendered))
            except BacklogEditError as exc:
                raise BacklogEditError(f"{source}: task {task_id!r}: {exc}") from None
        else:
            missing.append((name, rendered))
    splices.append(_additions(text, task, missing))
    edited = _apply(text, splices)
    try:
        after = load_yaml(edited, source)
    except BacklogError as exc:
        raise BacklogEditError(f"{source}: editing task {task_id!r} broke it: {exc}") from None
    if after != _expected(before, task_id, fields):
        raise BacklogEditError(
            f"{source}: cannot edit task {task_id!r} without touching other content; "
            "its layout is unusual (multi-line values or anchors?)"
        )
    return edited
