"""Check the change before anything leaves the machine: every path must be in scope.

The path list comes from git itself: the commit that will be pushed, diffed
against the commit that was cloned (renames split into the old and the new
path, symlinks and mode changes included), in the publisher's own clone, so
an engine cannot hide a write by committing, renaming or linking, nor change
anything between the check and the push. A path passes when it matches the
task's allowed_paths, or is Leviathan's bookkeeping (the task's own backlog
entry, its proposal file), and lies inside the target's prefixes. Symlinks
leading out of the repository, submodules, edits to other tasks' backlog
entries and files written beside the checkout are violations too.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leviathan_core.backlog import BacklogError, load_yaml
from leviathan_core.constants import BACKLOG_PATH
from leviathan_core.scope import ScopeError, Violation, diff_violations, normalize_path
from leviathan_worker import gitops
from leviathan_worker.bookkeeping import bookkeeping_paths
from leviathan_worker.changeset import is_git_component, printable
from leviathan_worker.clone import Checkout

SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"


@dataclass(frozen=True, slots=True)
class PathChange:
    """One line of ``git diff --raw``: A(dded), M(odified), D(eleted) or T(ype change)."""

    status: str
    path: str
    old_mode: str
    new_mode: str
    new_blob: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    paths: tuple[str, ...]
    violations: tuple[Violation, ...] = ()
    changes: tuple[PathChange, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return bool(self.paths) and not self.violations

    def summary(self) -> str:
        if self.violations:
            return f"{len(self.violations)} violation(s): " + "; ".join(
                f"{v.path} ({v.reason})" for v in self.violations
            )
        return f"passed: {len(self.paths)} path(s), all inside the task's scope"


def parse_raw_diff(output: str) -> list[PathChange]:
    """Parse ``git diff --raw -z --no-renames`` output."""
    fields = output.split("\0")
    changes: list[PathChange] = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, _old_blob, new_blob, status = meta[1:].split()
        changes.append(PathChange(status[0], path, old_mode, new_mode, new_blob))
    return changes


def symlink_violation(path: str, target: str) -> Violation | None:
    """A link whose target is absolute or climbs out of the repository (or into .git)."""
    if not target or target.startswith("/") or "\\" in target:
        return Violation(printable(path), f"symlink points outside the repository ({target})")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        return Violation(printable(path), f"symlink points outside the repository ({target})")
    # Any component: ``.GIT`` or ``.git.`` is ``.git`` on a case-folding or Windows
    # checkout, and a nested repository's ``.git`` is no more the tree's than ours.
    if any(is_git_component(part) for part in resolved.split("/")):
        return Violation(printable(path), f"symlink points into .git ({target})")
    return None


def _tasks_without(document: Any, task_id: str) -> tuple[Any, Any] | None:
    if not isinstance(document, dict) or not isinstance(document.get("tasks"), list):
        return None
    others = [t for t in document["tasks"] if not (isinstance(t, dict) and t.get("id") == task_id)]
    rest = {k: v for k, v in document.items() if k != "tasks"}
    return others, rest


def backlog_violation(before: str, after: str | None, task_id: str) -> Violation | None:
    """The backlog may change only in the entry of ``task_id``."""
    if after is None:
        return Violation(BACKLOG_PATH, "the backlog was deleted")
    try:
        old = _tasks_without(load_yaml(before, BACKLOG_PATH), task_id)
        new = _tasks_without(load_yaml(after, BACKLOG_PATH), task_id)
    except BacklogError as exc:
        return Violation(BACKLOG_PATH, f"the edited backlog does not parse: {exc}")
    if new is None or old != new:
        return Violation(BACKLOG_PATH, f"changes more than the entry of task {task_id}")
    return None


def check_changes(
    changes: Sequence[PathChange],
    *,
    task_id: str,
    allowed_paths: Sequence[str],
    prefixes: Sequence[str],
    link_targets: Mapping[str, str],
    backlog: tuple[str, str | None] | None = None,
    outside: Iterable[str] = (),
) -> VerifyResult:
    """The scope verdict for a diff (pure: every fact is passed in)."""
    paths = sorted({c.path for c in changes})
    violations: list[Violation] = [
        Violation(f"../{name}", "written outside the checkout") for name in sorted(outside)
    ]
    for path in paths:
        if printable(path) != path:
            violations.append(
                Violation(
                    printable(path), "the path is not valid UTF-8 or holds control characters"
                )
            )
    own = bookkeeping_paths(task_id, prefixes)
    violations += diff_violations(
        [p for p in paths if printable(p) == p], allowed_paths, prefixes, own
    )
    for change in changes:
        if change.new_mode == SUBMODULE_MODE:
            violations.append(Violation(printable(change.path), "submodules are not allowed"))
        elif change.new_mode == SYMLINK_MODE:
            found = symlink_violation(change.path, link_targets.get(change.path, ""))
            violations += [found] if found else []
    if backlog is not None and not _explicitly_allowed(BACKLOG_PATH, allowed_paths):
        found = backlog_violation(backlog[0], backlog[1], task_id)
        violations += [found] if found else []
    return VerifyResult(tuple(printable(p) for p in paths), tuple(violations), tuple(changes))


def _explicitly_allowed(path: str, allowed_paths: Sequence[str]) -> bool:
    try:
        return any(normalize_path(p) == path for p in allowed_paths)
    except ScopeError:
        return False


def scratch_listing(root: Path, skip: Sequence[Path]) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file under ``root`` except ``skip`` (folders: only that
    they exist, as adding a skipped file changes its folder's mtime): to catch writes
    beside the checkout (``../``), including to the worker's own event spool."""
    found: dict[str, tuple[int, int]] = {}
    skipped = {str(s) for s in skip}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in skipped]
        for name in dirs:
            found[Path(folder, name).relative_to(root).as_posix()] = (0, 0)
        for name in files:
            entry = Path(folder, name)
            if str(entry) in skipped:
                continue
            info = entry.lstat()
            found[entry.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns)
    return found


def verify_commit(
    checkout: Checkout,
    sha: str,
    *,
    task_id: str,
    allowed_paths: Sequence[str],
    prefixes: Sequence[str],
    outside: Iterable[str] = (),
) -> VerifyResult:
    """Check the commit that will be pushed (not a work tree) against the cloned commit."""
    repo, base = checkout.repo, checkout.base_sha
    changes = committed_changes(checkout, sha)
    links = {
        c.path: gitops.run(repo, "cat-file", "blob", c.new_blob, action=f"reading link {c.path}")
        for c in changes
        if c.new_mode == SYMLINK_MODE
    }
    backlog = None
    touched = {c.path: c for c in changes}
    if BACKLOG_PATH in touched:
        before = gitops.run(repo, "show", f"{base}:{BACKLOG_PATH}", action="reading the backlog")
        after = None
        if touched[BACKLOG_PATH].status != "D":
            after = gitops.run(
                repo, "cat-file", "blob", touched[BACKLOG_PATH].new_blob,
                action="reading the backlog",
            )  # fmt: skip
        backlog = (before, after)
    return check_changes(
        changes,
        task_id=task_id,
        allowed_paths=allowed_paths,
        prefixes=prefixes,
        link_targets=links,
        backlog=backlog,
        outside=outside,
    )


def committed_changes(checkout: Checkout, sha: str) -> list[PathChange]:
    """What the commit itself changes against the cloned commit (what the push carries)."""
    repo, base = checkout.repo, checkout.base_sha
    raw = gitops.run(
        repo, "diff", "--raw", "-z", "--no-renames", "--no-ext-diff", base, sha,
        action="listing the committed paths",
    )  # fmt: skip
    return parse_raw_diff(raw)
