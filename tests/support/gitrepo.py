"""Real git repositories on disk for tests and benchmarks.

``make_target_repo`` builds what Leviathan watches: a bare repository whose
``main`` branch holds ``.leviathan/backlog.yaml`` (plus any extra files).
``commit_files`` adds a commit to any branch of a bare repository (a new
branch starts from ``main``), which is how tests play the part of a pusher.
``make_big_repo`` streams thousands of commits through ``git fast-import``.
Every git call runs with a fixed identity and no system/global config, so the
results do not depend on the machine.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Leviathan Tests",
    "GIT_AUTHOR_EMAIL": "tests@leviathan.invalid",
    "GIT_COMMITTER_NAME": "Leviathan Tests",
    "GIT_COMMITTER_EMAIL": "tests@leviathan.invalid",
}


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_IDENTITY, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    return env


def git(*args: str, cwd: Path | None = None, input: bytes | None = None, check: bool = True) -> str:
    """Run git and return stdout; a failure raises with git's own message."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, env=git_env(), check=False
    )
    if done.returncode != 0 and check:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode(errors="replace").strip()


def _unique(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _quote(path: str) -> str:
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n%s\n" % (len(raw), raw)


def commit_files(
    bare: Path,
    files: Mapping[str, str | None],
    *,
    branch: str = "main",
    message: str = "change files",
    start: str = "main",
    renames: Mapping[str, str] | None = None,
) -> str:
    """Commit to ``branch`` of ``bare`` and return the new commit id.

    ``files`` maps paths to content (None deletes the path); ``renames`` maps
    old to new paths. A missing ``branch`` starts at ``start`` (or as a root
    commit in an empty repository). One ``git fast-import`` does the work.
    """
    parent = ""
    for ref in (branch, start):
        parent = git("rev-parse", "--verify", "--quiet", f"refs/heads/{ref}", cwd=bare, check=False)
        if parent:
            break
    stream = [f"commit refs/heads/{branch}\n".encode()]
    stream.append(b"committer Leviathan Tests <tests@leviathan.invalid> %d +0000\n" % time.time())
    stream.append(_data(message))
    if parent:
        stream.append(f"from {parent}\n".encode())
    for old, new in (renames or {}).items():
        stream.append(f"R {_quote(old)} {_quote(new)}\n".encode())
    for rel, content in files.items():
        if content is None:
            stream.append(f"D {_quote(rel)}\n".encode())
        else:
            stream.append(f"M 100644 inline {_quote(rel)}\n".encode())
            stream.append(_data(content))
    git("fast-import", "--quiet", cwd=bare, input=b"".join(stream) + b"\n")
    return git("rev-parse", f"refs/heads/{branch}", cwd=bare)


def make_target_repo(
    tmp_path: Path, backlog_yaml: str, files: dict[str, str] | None = None
) -> Path:
    """A bare repository ``<tmp_path>/target.git`` (``-2``, ``-3``… when taken).

    Branch ``main`` (also HEAD) has one commit with ``.leviathan/backlog.yaml``
    and ``files``. Use ``file://`` + the path, or the path itself, as the URL.
    """
    bare = _unique(tmp_path / "target.git")
    git("init", "-q", "--bare", "-b", "main", str(bare))
    commit_files(
        bare,
        {".leviathan/backlog.yaml": backlog_yaml, **(files or {})},
        message="initial backlog",
    )
    return bare


def make_big_repo(path: Path, *, commits: int, files: int, backlog_yaml: str) -> Path:
    """A bare repository with ``files`` files touched over ``commits`` commits.

    Each commit rewrites one file (round robin) so history and tree both grow;
    the last commit adds ``.leviathan/backlog.yaml``. Built with fast-import in
    well under a second per thousand commits.
    """
    git("init", "-q", "--bare", "-b", "main", str(path))
    lines: list[bytes] = []

    def blob(data: str) -> None:
        raw = data.encode()
        lines.append(b"data %d\n%s\n" % (len(raw), raw))

    when = 1_700_000_000
    for n in range(max(commits, 1)):
        lines.append(b"commit refs/heads/main\n")
        lines.append(b"committer Leviathan Tests <tests@leviathan.invalid> %d +0000\n" % (when + n))
        blob(f"commit {n}")
        if n == 0:
            for f in range(files):
                lines.append(b"M 644 inline src/mod%05d/file%05d.txt\n" % (f // 100, f))
                blob(f"file {f} version 0\n")
        else:
            f = n % max(files, 1)
            lines.append(b"M 644 inline src/mod%05d/file%05d.txt\n" % (f // 100, f))
            blob(f"file {f} version {n}\n")
        if n == commits - 1:
            lines.append(b"M 644 inline .leviathan/backlog.yaml\n")
            blob(backlog_yaml)
        lines.append(b"\n")
    git("fast-import", "--quiet", cwd=path, input=b"".join(lines))
    return path
