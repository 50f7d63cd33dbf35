"""The agent's tools: reads anywhere in the checkout, writes only in the task's scope.

The model's arguments are untrusted (a file it read may have told it what to
ask for), so every path goes through core's ``normalize_path`` (no absolute
path, no ``..``), no ``.git`` segment is reachable, a read must resolve inside
the checkout (a symlink that leaves it is refused), and a write, replace or
delete must name a path that ``matches_allowed`` one of the task's
``allowed_paths`` (and lies inside the target's prefixes) through no symlink.
A refusal is the tool's answer, in words the model can act on, never an
exception. Repository content goes back wrapped in a delimited data block.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from leviathan_core.scope import ScopeError, matches_allowed, normalize_path, within_prefixes

READ_CAP: Final = 64 * 1024  # bytes one read_file returns at most
READ_BUDGET: Final = 2 * 1024 * 1024  # bytes of repository content per attempt
WRITE_CAP: Final = 1024 * 1024
LIST_CAP: Final = 500
SEARCH_CAP: Final = 100
SEARCH_FILE_CAP: Final = 1024 * 1024
LINE_CAP: Final = 240
PATTERN_CAP: Final = 200


class Refused(Exception):
    """The tool will not do this; the message goes back to the model."""


def _schema(name: str, about: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": props, "required": required}
    return {"type": "function", "function": {"name": name, "description": about,
                                             "parameters": parameters}}  # fmt: skip


_PATH = {"type": "string", "description": "a path relative to the repository root"}
TOOLS: Final = [
    _schema("list_files", "List files under a folder of the repository (recursive, capped).",
            {"path": {**_PATH, "description": "a folder; '.' for the root"}}, ["path"]),
    _schema("read_file", f"Read a file; at most {READ_CAP} bytes per call (use offset).",
            {"path": _PATH, "offset": {"type": "integer", "minimum": 0},
             "limit": {"type": "integer", "minimum": 1}}, ["path"]),
    _schema("search", "Find lines containing a text (or a regex with regex=true).",
            {"pattern": {"type": "string"}, "path": _PATH, "regex": {"type": "boolean"}},
            ["pattern"]),
    _schema("write_file", "Create or overwrite a file inside the allowed paths.",
            {"path": _PATH, "content": {"type": "string"}}, ["path", "content"]),
    _schema("replace_in_file", "Replace the one occurrence of `old` with `new` in a file.",
            {"path": _PATH, "old": {"type": "string"}, "new": {"type": "string"}},
            ["path", "old", "new"]),
    _schema("delete_file", "Delete a file inside the allowed paths.", {"path": _PATH}, ["path"]),
    _schema("finish", "End the work; the summary goes into the pull request.",
            {"summary": {"type": "string"}}, ["summary"]),
]  # fmt: skip


class Workspace:
    """The checkout as the model's tools see it."""

    def __init__(
        self,
        root: Path,
        allowed: Sequence[str],
        prefixes: Sequence[str],
        nonce: str,
        read_bytes: int = 0,
    ) -> None:
        self.root = root.resolve()
        self.allowed = [normalize_path(p) for p in allowed]
        self.prefixes = list(prefixes)
        self.nonce = nonce
        self.read_bytes = read_bytes  # carried across repair runs in the saved state

    # ---- dispatch ------------------------------------------------------------------
    def call(self, name: str, arguments: str) -> str:
        """The tool's answer to the model; a refusal or bad argument is an answer too."""
        handler: Callable[..., str] | None = getattr(self, f"tool_{name}", None)
        if handler is None:
            return f"error: there is no tool {name!r}"
        try:
            args = json.loads(arguments or "{}")
            if not isinstance(args, dict):
                raise TypeError
            return handler(**args)
        except (ValueError, TypeError):
            return f"error: the arguments of {name} are not the JSON object it takes"
        except Refused as refused:
            return f"refused: {refused}"
        except OSError as exc:
            return f"error: {exc.strerror or type(exc).__name__}"

    def data(self, what: str, text: str) -> str:
        """Repository content, fenced by this attempt's nonce so no file can close the fence."""
        return f"<<<data {self.nonce} {what}>>>\n{text}\n<<<end data {self.nonce}>>>"

    # ---- paths ---------------------------------------------------------------------
    def relative(self, path: str, folder: bool = False) -> str:
        if folder and path.strip() in ("", ".", "./"):
            return ""
        try:
            rel = normalize_path(path).rstrip("/")
        except ScopeError as exc:
            raise Refused(str(exc)) from None
        if any(part.lower().rstrip(". ") == ".git" for part in rel.split("/")):
            raise Refused(f"{path!r}: .git is not part of the repository's files")
        return rel

    def readable(self, path: str, folder: bool = False) -> tuple[str, Path]:
        rel = self.relative(path, folder)
        real = Path(os.path.realpath(self.root / rel))
        if real != self.root and self.root not in real.parents:
            raise Refused(f"{path!r} leads outside the repository")
        return rel, real

    def writable(self, path: str) -> tuple[str, Path]:
        rel = self.relative(path)
        if not any(matches_allowed(rel, a) for a in self.allowed) or not within_prefixes(
            rel, self.prefixes
        ):
            allowed = ", ".join(self.allowed)
            raise Refused(f"{rel} is outside the task's allowed paths ({allowed}); not written")
        current = self.root
        for part in rel.split("/"):
            current = current / part
            if current.is_symlink():
                raise Refused(f"{rel}: {current.relative_to(self.root)} is a symlink")
        return rel, current

    def _charge(self, size: int) -> None:
        if self.read_bytes + size > READ_BUDGET:
            raise Refused(f"the read budget of {READ_BUDGET} bytes for this attempt is spent")
        self.read_bytes += size

    # ---- reading -------------------------------------------------------------------
    def tool_list_files(self, path: str = ".") -> str:
        rel, real = self.readable(path, folder=True)
        if not real.is_dir():
            raise Refused(f"{path!r} is not a folder")
        found: list[str] = []
        for folder, dirs, files in os.walk(real):
            dirs[:] = sorted(d for d in dirs if d.lower() != ".git")
            base = Path(folder).relative_to(self.root)
            found += [f"{(base / d).as_posix()}/" for d in dirs]
            found += [(base / f).as_posix() for f in sorted(files)]
            if len(found) >= LIST_CAP:
                break
        more = f"\n(listing cut at {LIST_CAP} entries)" if len(found) > LIST_CAP else ""
        text = "\n".join(found[:LIST_CAP]) + more
        self._charge(len(text))
        return self.data(f"files under {rel or '.'}", text)

    def tool_read_file(self, path: str, offset: int = 0, limit: int = READ_CAP) -> str:
        rel, real = self.readable(path)
        if not isinstance(offset, int) or not isinstance(limit, int) or offset < 0 or limit < 1:
            raise TypeError
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise Refused(f"{rel} is not a regular file")
            handle.seek(offset)
            chunk = handle.read(min(limit, READ_CAP))
        self._charge(len(chunk))
        end = offset + len(chunk)
        more = f"; more from offset={end}" if end < info.st_size else ""
        what = f"file {rel} bytes {offset}-{end} of {info.st_size}{more}"
        return self.data(what, chunk.decode("utf-8", errors="replace"))

    def tool_search(self, pattern: str, path: str = ".", regex: bool = False) -> str:
        if not isinstance(pattern, str) or not pattern or len(pattern) > PATTERN_CAP:
            raise Refused(f"the pattern must be 1 to {PATTERN_CAP} characters")
        try:
            matcher = re.compile(pattern if regex else re.escape(pattern))
        except re.error as exc:
            raise Refused(f"not a valid regular expression: {exc}") from None
        # One search over a whole file first: most files hold no match, and only
        # those that do are split into lines. That finds every file a line would
        # match unless the pattern looks at line ends or around itself.
        prefilter = not regex or not any(m in pattern for m in ("^", "$", "\\A", "\\Z", "(?"))
        rel, real = self.readable(path, folder=True)
        hits: list[str] = []
        for file in self._files(real):
            try:
                data = file.read_bytes()[:SEARCH_FILE_CAP]
            except OSError:
                continue
            if b"\0" in data[:8192]:
                continue  # binary
            text = data.decode("utf-8", "replace")
            if prefilter and not matcher.search(text):
                continue
            name = file.relative_to(self.root).as_posix()
            for number, line in enumerate(text.splitlines(), 1):
                if matcher.search(line):
                    hits.append(f"{name}:{number}: {line[:LINE_CAP]}")
                    if len(hits) >= SEARCH_CAP:
                        break
            if len(hits) >= SEARCH_CAP:
                hits.append(f"(results cut at {SEARCH_CAP})")
                break
        text = "\n".join(hits) or "(no match)"
        self._charge(len(text))
        return self.data(f"search {pattern!r} under {rel or '.'}", text)

    def _files(self, real: Path) -> list[Path]:
        if real.is_file():
            return [real] if not real.is_symlink() else []
        out: list[Path] = []
        for folder, dirs, files in os.walk(real):
            dirs[:] = sorted(d for d in dirs if d.lower() != ".git")
            out += [Path(folder) / f for f in sorted(files)]
        return [f for f in out if f.is_file() and not f.is_symlink()]

    # ---- writing -------------------------------------------------------------------
    def tool_write_file(self, path: str, content: str) -> str:
        if not isinstance(content, str):
            raise TypeError
        data = content.encode("utf-8")
        if len(data) > WRITE_CAP:
            raise Refused(f"content larger than {WRITE_CAP} bytes")
        rel, target = self.writable(path)
        self._mkdirs(rel)
        self._write(target, data)
        return f"wrote {rel} ({len(data)} bytes)"

    def tool_replace_in_file(self, path: str, old: str, new: str) -> str:
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            raise Refused("old must be a non-empty text and new a text")
        rel, target = self.writable(path)
        if not target.is_file():
            raise Refused(f"{rel} does not exist (use write_file to create it)")
        text = target.read_text(encoding="utf-8", errors="surrogateescape")
        count = text.count(old)
        if count != 1:
            raise Refused(f"old occurs {count} times in {rel}; it must occur exactly once")
        data = text.replace(old, new).encode("utf-8", errors="surrogateescape")
        if len(data) > WRITE_CAP:
            raise Refused(f"the result would be larger than {WRITE_CAP} bytes")
        self._write(target, data)
        return f"replaced 1 occurrence in {rel}"

    def tool_delete_file(self, path: str) -> str:
        rel, target = self.writable(path)
        if not target.is_file():
            raise Refused(f"{rel} is not an existing file")
        target.unlink()
        return f"deleted {rel}"

    def tool_finish(self, summary: str) -> str:
        return "finished"

    def _mkdirs(self, rel: str) -> None:
        current = self.root
        for part in rel.split("/")[:-1]:
            current = current / part
            if not current.is_dir():
                current.mkdir()

    def _write(self, target: Path, data: bytes) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        fd = os.open(target, flags, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
