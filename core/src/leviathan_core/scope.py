"""Boundary-safe path scope checks.

Used three times on every attempt: on the plan (a task's allowed_paths against
the target's prefixes), on the local diff before a push, and on the PR's file
list. Everything is compared on normalised POSIX strings, segment by segment,
so ``docsx/`` is never inside ``docs/`` and ``docs/../etc`` never gets in.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ScopeError(ValueError):
    """A path that cannot be compared safely (absolute, traversal, control chars)."""


@dataclass(frozen=True, slots=True)
class Violation:
    path: str
    reason: str


def _check_chars(path: str) -> None:
    if not path or not path.strip():
        raise ScopeError("empty path")
    if "\\" in path:
        raise ScopeError(f"{path!r}: backslashes are not allowed (use '/')")
    if path.isascii():  # fast path: in ASCII, only control characters are unprintable
        if not path.isprintable():
            raise ScopeError(f"{path!r}: control or invisible characters are not allowed")
        return
    for char in path:
        if char == "\x00" or unicodedata.category(char) in {"Cc", "Cf"}:
            raise ScopeError(f"{path!r}: control or invisible characters are not allowed")


def normalize_path(path: str) -> str:
    """Return the canonical relative form, keeping a trailing '/' for folders.

    Refuses absolute paths, ``..`` segments, backslashes, NUL and control
    characters; drops ``.`` segments and repeated slashes; applies Unicode NFC
    so that two spellings of one name compare equal. Case is significant.
    """
    if not isinstance(path, str):
        raise ScopeError(f"{path!r}: a path must be a string")
    _check_chars(path)
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ScopeError(f"{path!r}: absolute paths are not allowed")
    text = unicodedata.normalize("NFC", path)
    is_dir = text.endswith("/")
    segments = [s for s in text.split("/") if s not in ("", ".")]
    if any(s == ".." for s in segments):
        raise ScopeError(f"{path!r}: '..' segments are not allowed")
    if not segments:
        raise ScopeError(f"{path!r}: names no file or folder inside the repository")
    joined = "/".join(segments)
    return joined + "/" if is_dir else joined


def normalize_prefix(prefix: str) -> str:
    """A prefix always names a folder: ``docs`` and ``docs/`` both mean ``docs/``."""
    normalized = normalize_path(prefix)
    return normalized if normalized.endswith("/") else normalized + "/"


def is_within(path: str, folder: str) -> bool:
    """True when normalised ``path`` is ``folder`` itself or lies under it."""
    folder_name = folder.rstrip("/")
    name = path.rstrip("/")
    return name == folder_name or name.startswith(folder_name + "/")


def matches_allowed(path: str, allowed: str) -> bool:
    """A folder entry (ending in '/') covers what is under it; a file entry only itself."""
    if allowed.endswith("/"):
        return is_within(path, allowed)
    return path.rstrip("/") == allowed


def within_prefixes(path: str, prefixes: Iterable[str]) -> bool:
    return any(is_within(path, prefix) for prefix in prefixes)


def plan_violations(allowed_paths: Sequence[str], prefixes: Sequence[str]) -> list[Violation]:
    """Check a task's allowed_paths against the target's prefixes (the plan check)."""
    normalized_prefixes = [normalize_prefix(p) for p in prefixes]
    violations: list[Violation] = []
    for raw in allowed_paths:
        try:
            path = normalize_path(raw)
        except ScopeError as exc:
            violations.append(Violation(str(raw), str(exc)))
            continue
        if not within_prefixes(path, normalized_prefixes):
            violations.append(
                Violation(raw, f"outside the allowed prefixes {', '.join(normalized_prefixes)}")
            )
    return violations


def diff_violations(
    changed_paths: Iterable[str],
    allowed_paths: Sequence[str],
    prefixes: Sequence[str],
    bookkeeping: Sequence[str] = (),
) -> list[Violation]:
    """Check the paths a change touched (the diff and PR checks).

    A path passes when it matches one of the task's allowed_paths, or one of
    Leviathan's own bookkeeping files, and in both cases lies inside a prefix.
    """
    normalized_prefixes = [normalize_prefix(p) for p in prefixes]
    allowed = [normalize_path(p) for p in allowed_paths]
    extra = [normalize_path(p) for p in bookkeeping]
    violations: list[Violation] = []
    for raw in changed_paths:
        try:
            path = normalize_path(raw)
        except ScopeError as exc:
            violations.append(Violation(raw, str(exc)))
            continue
        if not within_prefixes(path, normalized_prefixes):
            violations.append(Violation(raw, "outside the target's allowed prefixes"))
        elif not any(matches_allowed(path, a) for a in [*allowed, *extra]):
            violations.append(Violation(raw, "not in the task's allowed_paths"))
    return violations
