"""Read what the change engine left in its work tree, as data and nothing else.

The engine's work tree is untrusted: its ``.git`` may point anywhere, its files
may be links, FIFOs or hard links to files the engine could not name in a diff.
So no git command ever runs there after the engine. This module walks the
tree with ``lstat``, takes regular files and symlinks only (opening files with
``O_NOFOLLOW | O_NONBLOCK``), refuses hard links and special files, bounds the
number of entries and the bytes it reads, refuses what it cannot read as the
walk saw it (a path longer than the system allows, an entry swapped since),
and compares each file's git blob id with the cloned commit's tree. The result
is a list of changes the publisher applies to its own clone, which the engine
never saw.
"""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

REGULAR: Final = "100644"
EXECUTABLE: Final = "100755"
SYMLINK: Final = "120000"
SUBMODULE: Final = "160000"
_UNPRINTABLE: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what the publisher reads from the engine's tree."""

    max_entries: int = 200_000  # files and folders walked
    max_changed_files: int = 10_000
    max_file_bytes: int = 50 * 1024 * 1024
    max_changed_bytes: int = 200 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BaseEntry:
    """One path of the cloned commit's tree: git mode and blob id."""

    mode: str
    blob: str


@dataclass(frozen=True, slots=True)
class FileChange:
    """A path the engine added, changed or deleted (``data`` None = deleted)."""

    path: str
    mode: str | None
    data: bytes | None


def printable(path: str) -> str:
    """``path`` as one line of text, safe to print and to send as JSON.

    Bytes that are not UTF-8 and control, format and line-separator characters
    are escaped: an engine's file name must not end the worker's console line
    and start one of its own (``docs/x\\n✓ PR created: …``).
    """
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in _UNPRINTABLE else c
        for c in text
    )


class UnsafeTree(ValueError):
    """The tree holds something the publisher refuses to read (named in the message).

    The path is kept printable: a name that is not UTF-8 must still fit in the
    ``attempt.failed`` event (JSON) that reports it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{printable(path)}: {reason}")
        self.path = printable(path)
        self.reason = reason


def _unreadable(path: str, exc: OSError) -> UnsafeTree:
    """An entry that cannot be read as the walk saw it: a path longer than the system
    allows, or one swapped (for a link, a folder) or removed since."""
    return UnsafeTree(path or ".", f"cannot be read safely ({exc.strerror or exc})")


class TooLarge(ValueError):
    """The change exceeds one of the limits."""


def blob_id(data: bytes) -> str:
    """The id git gives ``data`` as a blob (sha1 of ``blob <size>\\0<data>``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def is_git_component(name: str) -> bool:
    """``.git`` in any case (and with the trailing dots or spaces Windows ignores)."""
    return name.rstrip(". ").lower() == ".git"


def _walk(root: Path, limits: Limits) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every entry under ``root`` except the top-level ``.git``."""
    seen = 0
    stack = [""]
    while stack:
        relative = stack.pop()
        path = relative
        try:
            with os.scandir(root / relative if relative else root) as entries:
                for entry in entries:
                    seen += 1
                    if seen > limits.max_entries:
                        raise TooLarge(
                            f"the work tree holds more than {limits.max_entries} entries"
                        )
                    path = f"{relative}/{entry.name}" if relative else entry.name
                    if not relative and entry.name == ".git":
                        continue
                    info = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(path)
                    else:
                        yield path, info
        except OSError as exc:
            raise _unreadable(path, exc) from None


def _read_regular(root: Path, path: str, info: os.stat_result, limits: Limits) -> bytes:
    if info.st_nlink > 1:
        raise UnsafeTree(path, "a hard link (its content may belong to a file outside)")
    if info.st_size > limits.max_file_bytes:
        raise TooLarge(
            f"{printable(path)} is {info.st_size} bytes (max_file_bytes {limits.max_file_bytes})"
        )
    fd = os.open(root / path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise UnsafeTree(path, "replaced while it was read")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limits.max_file_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > limits.max_file_bytes:
        raise TooLarge(f"{printable(path)} grew past max_file_bytes while it was read")
    return data


def _entry(root: Path, path: str, info: os.stat_result, limits: Limits) -> tuple[str, bytes]:
    """(git mode, content) of one work-tree entry; refuses anything but files and links."""
    if any(is_git_component(part) for part in path.split("/")):
        raise UnsafeTree(path, "a path inside a .git folder")
    if not stat.S_ISLNK(info.st_mode) and not stat.S_ISREG(info.st_mode):
        raise UnsafeTree(path, "not a regular file or symlink (FIFO, socket or device)")
    try:
        if stat.S_ISLNK(info.st_mode):
            return SYMLINK, os.fsencode(os.readlink(root / path))
        mode = EXECUTABLE if info.st_mode & 0o111 else REGULAR
        return mode, _read_regular(root, path, info, limits)
    except OSError as exc:
        raise _unreadable(path, exc) from None


def in_scope(path: str, populated: Sequence[str] | None) -> bool:
    """Whether ``path`` was checked out for the engine (None = the whole tree was)."""
    if populated is None:
        return True
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in populated)


def read_changes(
    root: Path,
    base: Mapping[str, BaseEntry],
    populated: Sequence[str] | None,
    limits: Limits = Limits(),
) -> list[FileChange]:
    """Every path whose mode or content differs from ``base``, sorted by path.

    A base path missing from the tree counts as deleted only when it was checked
    out (``populated``); a sparse checkout leaves the others out on purpose.
    """
    changes: list[FileChange] = []
    present: set[str] = set()
    changed_bytes = 0
    for path, info in _walk(root, limits):
        present.add(path)
        mode, data = _entry(root, path, info, limits)
        old = base.get(path)
        if old is not None and old.mode == mode and old.blob == blob_id(data):
            continue
        changed_bytes += len(data)
        if len(changes) >= limits.max_changed_files or changed_bytes > limits.max_changed_bytes:
            raise TooLarge(
                f"the change exceeds {limits.max_changed_files} files or "
                f"{limits.max_changed_bytes} bytes"
            )
        changes.append(FileChange(path, mode, data))
    for path, entry in base.items():
        # A submodule is an empty folder in the checkout, not a deleted file.
        if entry.mode != SUBMODULE and path not in present and in_scope(path, populated):
            changes.append(FileChange(path, None, None))
    return sorted(changes, key=lambda c: c.path)
