"""An offline forge: a bare git repository on disk plus a SQLite PR store.

It behaves like the parts of GitHub Leviathan relies on: a PR needs an
existing branch with commits, one open PR per branch (a repeated create
returns it), the file list comes from ``git diff --name-status -M`` between
the merge base and the branch, and merging makes a real merge commit in the
bare repository (``git merge-tree --write-tree``, git >= 2.38), so the next
tick reads the merged backlog. Several processes may use one store at once:
SQLite in WAL mode, writes in ``BEGIN IMMEDIATE`` transactions, and a unique
index that allows one open PR per branch whatever interleaves.
Each PR also gets a small text view at ``<store_dir>/pulls/<n>``, which is
where its ``file://`` URL points.

As on GitHub, deleting a PR's head branch closes the PR (unmerged, for good:
pushing the branch again opens no PR by itself). Through ``delete_branch`` it
is closed at once; a branch deleted by other means (a ``git push --delete``,
as the worker withdraws a failed attempt) is noticed on the store's next read,
which closes every open PR whose branch is gone before it answers. That read
also keeps each open PR's last head commit, so a closed PR's files are still
the branch's changes as they last were.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, cast
from urllib.parse import unquote, urlsplit

from leviathan_adapters.forge import local_habits
from leviathan_adapters.forge.base import (
    ForgeRejected,
    ForgeUnavailable,
    PRState,
    PullRequestInfo,
    attempt_from_branch,
    is_agent_branch,
)
from leviathan_core.pr_options import PullRequestOptions

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pulls (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    branch TEXT NOT NULL,
    base TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'merged')),
    merge_base TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_pull_per_branch ON pulls (branch)
    WHERE state = 'open';
"""
_SELECT = "SELECT number, branch, base, title, body, state, merge_base, head_sha FROM pulls"
_MERGER = {
    "GIT_AUTHOR_NAME": "Leviathan local forge",
    "GIT_AUTHOR_EMAIL": "forge@leviathan.invalid",
    "GIT_COMMITTER_NAME": "Leviathan local forge",
    "GIT_COMMITTER_EMAIL": "forge@leviathan.invalid",
}


def local_repo_path(url: str) -> Path:
    """The directory of a ``file://`` URL or absolute path (refuses anything else)."""
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    if url.startswith("/"):
        return Path(url)
    raise ValueError(f"{url!r} is not a file:// URL or absolute path; the local forge needs one")


def parse_name_status(output: str) -> list[str]:
    """Paths from ``git diff --name-status -z``: renames and copies give both paths."""
    fields = output.split("\0")
    paths: dict[str, None] = {}
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        count = 2 if status[:1] in ("R", "C") else 1
        for path in fields[i + 1 : i + 1 + count]:
            paths[path] = None
        i += 1 + count
    return list(paths)


class _Row(NamedTuple):
    number: int
    branch: str
    base: str
    title: str
    body: str
    state: str
    merge_base: str
    head_sha: str


class LocalForge:
    """The Forge protocol over a bare repository and a PR store directory."""

    def __init__(self, repo_path: Path, store_dir: Path, *, base_url: str | None = None) -> None:
        self.repo_path = Path(repo_path)
        self.store_dir = Path(store_dir)
        self.base_url = (base_url or f"file://{self.store_dir.resolve()}").rstrip("/")
        self._db = self.store_dir / "pulls.sqlite3"
        self._initialised = False

    # ---- Forge protocol ------------------------------------------------------
    def open_agent_prs(self) -> list[PullRequestInfo]:
        return [
            p for p in self.list_pull_requests() if p.state == "open" and is_agent_branch(p.branch)
        ]

    def list_pull_requests(self) -> list[PullRequestInfo]:
        """Every PR in the store, in number order, whatever its state."""
        with self._connect() as db:
            self._follow_heads(db)
            rows = db.execute(_SELECT + " ORDER BY number").fetchall()
        return [self._info(_Row(*row)) for row in rows]

    def get_pull_request(self, number: int) -> PullRequestInfo:
        with self._connect() as db:
            self._follow_heads(db)
            return self._info(self._row(db, number))

    def create_pull_request(
        self, *, branch: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequestInfo:
        """Open a PR for an existing branch; the open PR for ``branch`` when there is one."""
        with self._connect() as db:
            self._follow_heads(db)
            existing = self._open_for(db, branch)
        if existing is not None:
            return existing
        head_sha, base_sha = self._branch_sha(branch), self._branch_sha(base)
        if head_sha is None:
            raise ForgeRejected(f"branch {branch!r} does not exist in {self.repo_path}")
        if base_sha is None:
            raise ForgeRejected(f"base branch {base!r} does not exist in {self.repo_path}")
        if self._git("rev-list", "--count", f"{base_sha}..{head_sha}") == "0":
            raise ForgeRejected(f"no commits between {base} and {branch}")
        merge_base = self._git("merge-base", base_sha, head_sha)
        now = _now()
        with self._connect() as db, _immediate(db):
            existing = self._open_for(db, branch)  # another process may have won meanwhile
            if existing is not None:
                return existing
            cursor = db.execute(
                "INSERT INTO pulls (branch, base, title, body, merge_base, head_sha, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (branch, base, title, body, merge_base, head_sha, now, now),
            )
            info = self._info(self._row(db, int(cursor.lastrowid or 0)))
            local_habits.record_draft(db, info.number, draft)
        self._write_view(info, body)
        return info

    def pull_request_files(self, number: int) -> list[str]:
        """Changed paths between the merge base and the branch (both sides of renames)."""
        with self._connect() as db:
            self._follow_heads(db)
            row = self._row(db, number)
        live = self._branch_sha(row.branch) if row.state == "open" else None
        if live is not None and self._branch_sha(row.base) is not None:
            span = [f"refs/heads/{row.base}...{live}"]
        else:
            span = [row.merge_base, row.head_sha]
        out = self._git("diff", "--name-status", "-z", "-M", "--no-ext-diff", *span, "--")
        return parse_name_status(out)

    def delete_branch(self, branch: str) -> bool:
        """Delete ``branch``, closing its open PR; False when it did not exist.

        HEAD's branch is refused.
        """
        sha = self._branch_sha(branch)
        if sha is None:
            return False
        head = self._git("symbolic-ref", "--quiet", "HEAD", check=False)
        if head == f"refs/heads/{branch}":
            raise ForgeRejected(f"refusing to delete {branch!r}: it is the default branch")
        self._git("update-ref", "-d", f"refs/heads/{branch}")
        with self._connect() as db, _immediate(db):
            row = db.execute(_SELECT + " WHERE branch = ? AND state = 'open'", (branch,)).fetchone()
            if row is not None:
                self._close_for_lost_head(db, _Row(*row), sha)
        return True

    def close_pull_request(self, number: int, merged: bool = False) -> PullRequestInfo:
        """Close PR ``number``; ``merged=True`` first merges it into its base for real."""
        with self._connect() as db:
            self._follow_heads(db)
        with self._connect() as db, _immediate(db):
            row = self._row(db, number)
            if row.state != "open":
                if merged and row.state != "merged":
                    raise ForgeRejected(f"pull request #{number} is closed; cannot merge it")
                return self._info(row)
            head_sha = self._branch_sha(row.branch) or row.head_sha
            if merged:
                self._merge(number, row.branch, row.base, head_sha)
            db.execute(
                "UPDATE pulls SET state = ?, head_sha = ?, updated_at = ? WHERE number = ?",
                ("merged" if merged else "closed", head_sha, _now(), number),
            )
            info = self._info(self._row(db, number))
        self._write_view(info, row.body)
        return info

    def decorate_pull_request(self, number: int, options: PullRequestOptions) -> list[str]:
        """Record the labels and reviewers (nobody reviews here); nothing can fail."""
        with self._connect() as db, _immediate(db):
            self._row(db, number)
            local_habits.record_decoration(db, number, options)
        return []

    def pull_request_habits(self, number: int) -> dict[str, Any]:
        """What was recorded for PR ``number``: draft, labels, reviewers, team reviewers."""
        with self._connect() as db:
            return local_habits.read(db, number)

    # ---- git -----------------------------------------------------------------
    def _merge(self, number: int, branch: str, base: str, head_sha: str) -> None:
        base_sha = self._branch_sha(base)
        if base_sha is None:
            raise ForgeRejected(f"base branch {base!r} no longer exists")
        if self._run("merge-base", "--is-ancestor", head_sha, base_sha).returncode == 0:
            return  # already contained in the base: nothing to merge
        done = self._run("merge-tree", "--write-tree", "--no-messages", base_sha, head_sha)
        if done.returncode == 1:
            raise ForgeRejected(f"pull request #{number} has conflicts with {base}")
        if done.returncode != 0:
            raise ForgeUnavailable(f"git merge-tree failed in {self.repo_path}: {_err(done)}")
        tree = done.stdout.split()[0]
        message = f"Merge pull request #{number} from {branch}"
        commit = self._git("commit-tree", tree, "-p", base_sha, "-p", head_sha, "-m", message)
        self._git("update-ref", f"refs/heads/{base}", commit, base_sha)

    def _branch_sha(self, branch: str) -> str | None:
        if branch.startswith("-") or not branch:
            raise ForgeRejected(f"invalid branch name {branch!r}")
        sha = self._git(
            "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False
        )
        return sha or None

    def _heads(self) -> dict[str, str]:
        """Every branch and its commit, in one git call."""
        out = self._git("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
        heads: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition(" ")
            heads[ref.removeprefix("refs/heads/")] = sha
        return heads

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        if not (self.repo_path / "HEAD").exists() and not (self.repo_path / ".git").exists():
            raise ForgeUnavailable(f"{self.repo_path} is not a git repository")
        env = {**os.environ, **_MERGER, "GIT_TERMINAL_PROMPT": "0"}
        return subprocess.run(
            ["git", "-C", str(self.repo_path), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    def _git(self, *args: str, check: bool = True) -> str:
        done = self._run(*args)
        if check and done.returncode != 0:
            raise ForgeUnavailable(f"git {args[0]} failed in {self.repo_path}: {_err(done)}")
        return done.stdout.strip() if done.returncode == 0 else ""

    # ---- store ---------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.store_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._db, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ForgeUnavailable(f"cannot open the local forge store {self._db}: {exc}") from None
        try:
            if not self._initialised:
                self._initialise(db)
            yield db
        except sqlite3.Error as exc:
            raise ForgeUnavailable(f"local forge store {self._db}: {exc}") from None
        finally:
            db.close()

    def _initialise(self, db: sqlite3.Connection) -> None:
        """WAL mode and the schema, set up by one process at a time.

        Switching the journal mode needs an exclusive lock that SQLite does not
        wait for, so processes opening a new store at once would see "database
        is locked"; a file lock serialises the one-time setup instead.
        """
        with (self.store_dir / ".init.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA + local_habits.SCHEMA)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self._initialised = True

    def _follow_heads(self, db: sqlite3.Connection) -> None:
        """Bring the open PRs up to their branches: closed when the branch is gone,
        else its current commit kept as the PR's head.

        The open PRs are read before the branches, so a PR created meanwhile is
        left alone, and each update applies only if no other process made it first.
        """
        rows = [_Row(*r) for r in db.execute(_SELECT + " WHERE state = 'open'").fetchall()]
        if not rows:
            return
        heads = self._heads()
        stale = [
            (row, heads.get(row.branch)) for row in rows if heads.get(row.branch) != row.head_sha
        ]
        if not stale:
            return
        with _immediate(db):
            for row, head in stale:
                if head is None:
                    self._close_for_lost_head(db, row, row.head_sha)
                else:
                    db.execute(
                        "UPDATE pulls SET head_sha = ?, updated_at = ?"
                        " WHERE number = ? AND state = 'open' AND head_sha = ?",
                        (head, _now(), row.number, row.head_sha),
                    )

    def _close_for_lost_head(self, db: sqlite3.Connection, row: _Row, head_sha: str) -> None:
        """Close ``row`` (still open) as GitHub does when its head branch is deleted."""
        done = db.execute(
            "UPDATE pulls SET state = 'closed', head_sha = ?, updated_at = ?"
            " WHERE number = ? AND state = 'open'",
            (head_sha, _now(), row.number),
        )
        if done.rowcount:
            self._write_view(self._info(self._row(db, row.number)), row.body)

    def _row(self, db: sqlite3.Connection, number: int) -> _Row:
        row = db.execute(_SELECT + " WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise ForgeRejected(f"no pull request #{number} in the local forge {self.store_dir}")
        return _Row(*row)

    def _open_for(self, db: sqlite3.Connection, branch: str) -> PullRequestInfo | None:
        row = db.execute(_SELECT + " WHERE branch = ? AND state = 'open'", (branch,)).fetchone()
        return None if row is None else self._info(_Row(*row))

    def _info(self, row: _Row) -> PullRequestInfo:
        attempt_id, task_id = attempt_from_branch(row.branch)
        return PullRequestInfo(
            number=row.number,
            url=f"{self.base_url}/pulls/{row.number}",
            branch=row.branch,
            base=row.base,
            title=row.title,
            state=cast(PRState, row.state),  # the table's CHECK allows only PRState values
            task_id=task_id,
            attempt_id=attempt_id,
        )

    def _write_view(self, info: PullRequestInfo, body: str) -> None:
        """A human-readable file at the PR's URL (best effort; the store is the truth)."""
        folder = self.store_dir / "pulls"
        text = (
            f"Pull request #{info.number} [{info.state}]\n{info.title}\n"
            f"{info.branch} -> {info.base}\n\n{body}\n"
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{info.number}.{os.getpid()}.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(folder / str(info.number))
        except OSError:
            pass


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the lock up front, so racing writers queue."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _err(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"
