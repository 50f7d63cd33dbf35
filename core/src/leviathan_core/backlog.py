"""The target's backlog (``.leviathan/backlog.yaml``): models and a strict parser.

A broken file is one error with line and column; a broken task is kept with
its own problem so the other tasks stay eligible; duplicate ids make the whole
backlog invalid because the choice between two tasks of one id is ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from leviathan_core.backlog_lines import issue_numbers, task_line
from leviathan_core.scope import ScopeError, normalize_path
from leviathan_core.verdicts import TaskVerdict, standing_verdict

try:  # Rust parser: ~20x faster than PyYAML, YAML 1.2 booleans, alias limits built in
    import yaml_rs
except ImportError:  # pragma: no cover - the fallback keeps the same rules
    yaml_rs = None  # type: ignore[assignment]

try:  # the C loader is ~10x faster on large backlogs
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

MAX_BACKLOG_BYTES: Final = 5 * 1024 * 1024
MAX_EXPANDED_NODES: Final = 2_000_000
TASK_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
PRIORITIES: Final = frozenset({"high", "medium", "low"})
STATUSES: Final = ("pending", "in_progress", "completed", "blocked")
_NOT_TRUE: Final = "ready is not true"


class _Loader(_BaseLoader):
    """Safe loading with YAML 1.2 booleans: ``yes``/``on`` stay strings, not ``true``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [_first]
    )


class BacklogError(ValueError):
    """The backlog as a whole cannot be used.

    ``path``, ``line``, ``column`` (1-based, None when the problem has no
    position) and ``message`` are kept apart so records and tools need not
    parse them back out of the text; ``str()`` joins them for people.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"{path}: {where}{message}" if path else f"{where}{message}")
        self.message = message
        self.path = path
        self.line = line
        self.column = column

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class TaskEntry:
    """One task as written; ``problem`` is set when the entry itself is malformed."""

    index: int
    id: str | None
    title: str = ""
    ready: bool = False
    ready_note: str | None = None
    status: str | None = None
    scope: str | None = None
    priority: str | None = None
    allowed_paths: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    acceptance_criteria: tuple[str, ...] = ()
    problem: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    issues: tuple[int, ...] = ()  # ``issue: 12`` / ``issues: [12, 40]``: closed by the PR
    # Each allowed path as the scope check compares it (None: unsafe). It does not
    # depend on the configuration, so it is worked out once per entry, not per decision.
    compared_paths: tuple[str | None, ...] = field(init=False, compare=False, repr=False)
    # The verdict no configuration can change but scope (verdicts.standing_verdict),
    # worked out here once so the first decision after a change is a scope check.
    standing: TaskVerdict | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        compared = tuple([_compared(p) for p in self.allowed_paths])
        object.__setattr__(self, "compared_paths", compared)
        object.__setattr__(self, "standing", standing_verdict(self))

    @property
    def name(self) -> str | int:
        """How the task is named in output: its id, or its 0-based index when unusable."""
        return self.id if self.id is not None else self.index

    @property
    def is_pending(self) -> bool:
        return self.status is None or self.status == "pending"


@dataclass(frozen=True, slots=True)
class Backlog:
    tasks: tuple[TaskEntry, ...]
    source: str = "backlog.yaml"
    # Task id -> index in ``tasks``; parse_backlog builds it while looking for
    # duplicate ids, so decisions need not walk the backlog again for it.
    positions: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    # Derived results keyed by the rules that produced them (see guardrails.judge_backlog).
    memo: dict[Hashable, object] = field(default_factory=dict, compare=False, repr=False)
    # The text it was parsed from, for ``line_of`` (looked up on demand, not per parse).
    raw: bytes | str = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.tasks and not self.positions:
            positions, _ = _positions(self.tasks)
            object.__setattr__(self, "positions", positions)

    def get(self, task_id: str) -> TaskEntry | None:
        index = self.positions.get(task_id)
        task = None if index is None else self.tasks[index]
        return task if task is not None and task.problem is None else None

    def line_of(self, task_id: str) -> int | None:
        """The 1-based line where the task starts in the file (None: not found)."""
        if self.get(task_id) is None:
            return None
        return task_line(self.raw, task_id)

    @property
    def problems(self) -> list[str]:
        return [f"task {t.name}: {t.problem}" for t in self.tasks if t.problem]


def _positions(tasks: Sequence[TaskEntry]) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Each usable id's index (the first one wins) and every index of the ids seen twice."""
    positions: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for index, task in enumerate(tasks):
        task_id = task.id
        if task_id is None:
            continue
        if task_id in positions:
            duplicates.setdefault(task_id, [positions[task_id]]).append(index)
        else:
            positions[task_id] = index
    return positions, duplicates


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _duplicates_message(duplicates: Mapping[str, list[int]]) -> str:
    """Every duplicated id with every index it sits at, so each copy can be found."""
    parts = [
        f"{task_id!r} at {_listed([f'tasks[{i}]' for i in indexes])}"
        for task_id, indexes in sorted(duplicates.items())
    ]
    label = "task id" if len(parts) == 1 else "task ids:"
    unique = "every id must be unique (the choice would be ambiguous)"
    return f"duplicate {label} {'; '.join(parts)}; {unique}"


def _at(exc: yaml.YAMLError) -> dict[str, int]:
    """The error's 1-based position as keyword arguments for BacklogError (none if unknown)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return {"line": mark.line + 1, "column": mark.column + 1} if mark else {}


def _several_documents(raw: bytes, source: str) -> BacklogError | None:
    """The error for a stream of several YAML documents, or None when it holds one.

    Both parsers reach here: yaml-rs returns such a stream as a list (which a
    single list document also is), and PyYAML refuses it with a composer
    error that does not say how many there are.
    """
    starts: list[tuple[int, int]] = []
    try:
        for event in yaml.parse(raw, Loader=_Loader):
            mark = event.start_mark
            if isinstance(event, yaml.DocumentStartEvent) and mark is not None:
                starts.append((mark.line + 1, mark.column + 1))
    except yaml.YAMLError:
        return None  # not even one well-formed stream: the parser's own error says why
    if len(starts) < 2:
        return None
    line, column = starts[1]
    return BacklogError(
        f"the file holds {len(starts)} YAML documents (separated by '---'); "
        "a backlog is one document",
        path=source,
        line=line,
        column=column,
    )


def _expanded_size(node: yaml.Node, budget: int) -> int:
    """Count nodes as aliases would expand them, stopping once ``budget`` is spent."""
    count = 0
    stack: list[yaml.Node] = [node]
    while stack:
        current = stack.pop()
        count += 1
        if count > budget:
            break
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.append(key)
                stack.append(value)
    return count


_RUST_POSITION = re.compile(r" at line (\d+), column (\d+)")


def _load_rust(text: str, raw: bytes, source: str) -> Any:
    try:
        document = yaml_rs.loads(
            text,
            parse_datetime=False,
            alias_limits=yaml_rs.AliasLimits(max_total_replayed_events=MAX_EXPANDED_NODES),
            duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error,
        )
    except yaml_rs.YAMLDecodeError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        head = lines[0] if lines else ""
        found = _RUST_POSITION.search(head)
        at = {"line": int(found[1]), "column": int(found[2])} if found else {}
        problem = lines[-1].strip() if len(lines) > 1 else _RUST_POSITION.sub("", head)
        if "alias" in head:
            message = f"YAML aliases expand too far ({problem}); refusing (alias bomb?)"
        else:
            message = f"invalid YAML: {problem.removeprefix('YAML parse error') or 'unreadable'}"
        raise BacklogError(message, path=source, **at) from None
    if isinstance(document, list) and (several := _several_documents(raw, source)):
        raise several
    return document


def load_yaml(data: bytes | str, source: str) -> Any:
    """Safe YAML loading with a size cap and a guard against alias expansion bombs."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_BACKLOG_BYTES:
        message = f"{len(raw)} bytes exceeds the {MAX_BACKLOG_BYTES} byte cap"
        raise BacklogError(message, path=source)
    if yaml_rs is not None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BacklogError(f"not UTF-8 (byte {exc.start})", path=source) from None
        return _load_rust(text, raw, source)
    loader = _Loader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if b"&" in raw and _expanded_size(node, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            raise BacklogError(
                f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes; "
                "refusing (alias bomb?)",
                path=source,
            )
        return loader.construct_document(node)
    except yaml.composer.ComposerError as exc:
        several = _several_documents(raw, source)
        if several is not None:
            raise several from None
        raise BacklogError(f"invalid YAML: {exc.problem or exc}", path=source, **_at(exc)) from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise BacklogError(f"invalid YAML: {problem}", path=source, **_at(exc)) from None
    finally:
        loader.dispose()


def _string_list(value: Any, key: str) -> tuple[tuple[str, ...], str | None]:
    if value is None:
        return (), None
    if not isinstance(value, list):
        return (), f"'{key}' must be a list of strings, got {type(value).__name__}"
    for i, item in enumerate(value):
        if not isinstance(item, str):
            return (), f"'{key}[{i}]' must be a string, got {type(item).__name__}"
    return tuple(value), None


def _compared(path: str) -> str | None:
    try:
        return normalize_path(path)
    except ScopeError:
        return None


def _ready(value: Any) -> tuple[bool, str | None]:
    if value is True:
        return True, None
    if value is None or value is False:
        return False, _NOT_TRUE
    return False, f"ready is {type(value).__name__} {value!r}, not the YAML boolean true"


def parse_task(index: int, item: Any) -> TaskEntry:
    """Parse one entry; any structural problem is recorded, never raised."""
    if not isinstance(item, dict):
        return TaskEntry(index, None, problem=f"must be a mapping, got {type(item).__name__}")
    raw_id = item.get("id")
    if not isinstance(raw_id, str) or not TASK_ID.fullmatch(raw_id):
        problem = (
            "missing 'id'" if raw_id is None else f"id {raw_id!r} must match {TASK_ID.pattern}"
        )
        return TaskEntry(index, None, problem=problem, raw=item)
    ready, ready_note = _ready(item.get("ready"))
    problems: list[str] = []
    title = item.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append("'title' is required and must be a non-empty string")
    status = item.get("status")
    if status is not None and not isinstance(status, str):
        problems.append(f"'status' must be a string, got {type(status).__name__}")
    priority = item.get("priority")
    if priority is not None and (not isinstance(priority, str) or priority not in PRIORITIES):
        problems.append(f"'priority' must be one of high, medium, low, got {priority!r}")
    scope = item.get("scope")
    if scope is not None and not isinstance(scope, str):
        problems.append(f"'scope' must be a string, got {type(scope).__name__}")
    paths, err = _string_list(item.get("allowed_paths"), "allowed_paths")
    deps, dep_err = _string_list(item.get("dependencies"), "dependencies")
    criteria, crit_err = _string_list(item.get("acceptance_criteria"), "acceptance_criteria")
    issues, issue_err = (
        issue_numbers(item) if "issue" in item or "issues" in item else ((), None)
    )  # most tasks name no issue: skip the call
    problems.extend(e for e in (err, dep_err, crit_err, issue_err) if e)
    return TaskEntry(
        index=index,
        id=raw_id,
        title=title if isinstance(title, str) else "",
        ready=ready,
        ready_note=ready_note,
        status=status if isinstance(status, str) else None,
        scope=scope if isinstance(scope, str) else None,
        priority=priority if isinstance(priority, str) else None,
        allowed_paths=paths,
        dependencies=deps,
        acceptance_criteria=criteria,
        problem="; ".join(problems) or None,
        raw=item,
        issues=issues,
    )


def parse_backlog(data: bytes | str, source: str = "backlog.yaml") -> Backlog:
    """Parse a whole backlog; raises BacklogError when the file as a whole is unusable."""
    document = load_yaml(data, source)
    if not isinstance(document, dict):
        kind = "empty" if document is None else type(document).__name__
        message = f"expected a mapping with a 'tasks' list, got {kind}"
        raise BacklogError(message, path=source)
    if "tasks" not in document:
        raise BacklogError("missing the top-level 'tasks' key", path=source)
    items = document["tasks"]
    if items is None:
        items = []
    if not isinstance(items, list):
        raise BacklogError(f"'tasks' must be a list, got {type(items).__name__}", path=source)
    tasks = [parse_task(i, item) for i, item in enumerate(items)]
    positions, duplicates = _positions(tasks)
    if duplicates:
        raise BacklogError(_duplicates_message(duplicates), path=source)
    return Backlog(tuple(tasks), source, positions, raw=data)
