"""Where a task starts in the backlog file, and the issues a task names.

The YAML parser keeps no positions, and finding every task's line on each
parse would cost a scheduler cycle for nothing: only the worker, once per
attempt, needs one task's line (for the PR's link back to it). So the line is
looked up on demand with one regular-expression search for that id's key.
Only block-style entries are found (``- id: x``, or an ``id:`` line inside
the entry); a task written in flow style has no line and its PR no link.
"""

from __future__ import annotations

import re
from typing import Any


def task_line(raw: bytes | str, task_id: str) -> int | None:
    """The 1-based line of ``task_id``'s ``id:`` key; ``- id:`` (an entry's start)
    wins over an ``id:`` key inside an entry."""
    data = raw.encode() if isinstance(raw, str) else raw
    value = re.escape(task_id.encode())
    tail = rb"""[ \t]*:[ \t]*(["']?)""" + value + rb"""\1[ \t]*(?:#[^\n]*)?\r?$"""
    for lead in (rb"^[ \t]*-[ \t]+id", rb"^[ \t]*id"):
        match = re.search(lead + tail, data, re.MULTILINE)
        if match is not None:
            return data.count(b"\n", 0, match.start()) + 1
    return None


def issue_numbers(item: dict[str, Any]) -> tuple[tuple[int, ...], str | None]:
    """The issues ``issue: 12`` or ``issues: [12, 40]`` name, or the problem with them."""
    numbers: list[int] = []
    for key in ("issue", "issues"):
        if key not in item or item[key] is None:
            continue
        value = item[key]
        values = value if key == "issues" and isinstance(value, list) else [value]
        if key == "issues" and not isinstance(value, list):
            return (), f"'issues' must be a list of issue numbers, got {type(value).__name__}"
        for i, number in enumerate(values):
            where = key if key == "issue" else f"issues[{i}]"
            if isinstance(number, str) and re.fullmatch(r"#?[1-9][0-9]{0,9}", number):
                number = int(number.lstrip("#"))
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                return (), f"'{where}' must be an issue number such as 123, got {number!r}"
            if number not in numbers:
                numbers.append(number)
    return tuple(numbers), None
