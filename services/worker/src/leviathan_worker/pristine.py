"""The publisher's own clone: the engine's changes applied as data, committed by plumbing.

The clone is made before the engine runs, in a folder the engine cannot see,
and never gets a work tree: the commit is built from blobs and a temporary
index (``read-tree``, ``update-index``, ``write-tree``, ``commit-tree``), so no
attribute, filter, textconv driver or hook from the tree or from the engine
can run, and nothing the engine wrote is ever interpreted by git.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from leviathan_worker import gitops
from leviathan_worker.changeset import BaseEntry, FileChange, blob_id
from leviathan_worker.clone import Checkout

ZERO: str = "0" * 40


def base_tree(checkout: Checkout) -> dict[str, BaseEntry]:
    """Every path of the cloned commit with its mode and blob id (submodules included)."""
    raw = gitops.run(
        checkout.repo, "ls-tree", "-r", "-z", "--full-tree", checkout.base_sha,
        action="listing the cloned tree",
    )  # fmt: skip
    tree: dict[str, BaseEntry] = {}
    for record in raw.split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, _kind, blob = meta.split()
        tree[path] = BaseEntry(mode, blob)
    return tree


def write_blob(git_dir: Path, data: bytes) -> str:
    """Store ``data`` as a loose object (no git process, so no filter can apply)."""
    sha = blob_id(data)
    target = git_dir / "objects" / sha[:2] / sha[2:]
    if target.exists():
        return sha
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-blob-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(zlib.compress(b"blob %d\0" % len(data) + data))
    os.replace(temporary, target)
    return sha


def index_records(git_dir: Path, changes: Sequence[FileChange]) -> bytes:
    """``update-index -z --index-info`` input: one record per change, deletions as mode 0."""
    records = []
    for change in changes:
        path = os.fsencode(change.path)
        if change.data is None or change.mode is None:
            records.append(b"0 " + ZERO.encode() + b"\t" + path)
        else:
            sha = write_blob(git_dir, change.data)
            records.append(f"{change.mode} {sha}".encode() + b"\t" + path)
    return b"\0".join(records) + b"\0"


def build_tree(checkout: Checkout, changes: Sequence[FileChange], scratch: Path) -> str:
    """The tree of the cloned commit with ``changes`` applied; returns its id."""
    git_dir = Path(checkout.repo.git_dir)
    digest = hashlib.sha256(repr([(c.path, c.mode) for c in changes]).encode()).hexdigest()[:12]
    env = gitops.environment()
    env["GIT_INDEX_FILE"] = str(scratch / f"publisher-index-{digest}")
    repo = checkout.repo
    gitops.run(repo, "read-tree", checkout.base_sha, action="reading the cloned tree", env=env)
    gitops.run_input(
        repo, "update-index", "-z", "--index-info",
        data=index_records(git_dir, changes), action="applying the change", env=env,
    )  # fmt: skip
    return gitops.run(repo, "write-tree", action="writing the tree", env=env)
