"""Clone the target's branch for one attempt: shallow, single branch, token in env only.

The checkout lives at ``<workspace_dir>/<attempt_id>/target``; a leftover from
an earlier run of the same attempt is removed first so a retry starts clean.
The token reaches git as a scoped header through the environment (see
``leviathan_adapters.git_auth``), never in the remote URL, ``.git/config`` or logs.

The clone is made without a work tree; the task is read from the commit, and
then only the paths the engine may write are checked out (sparse checkout)
unless the engine needs the whole tree. On a large repository, writing every
file to disk is most of the cost of a clone.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from git import Repo
from git.exc import GitCommandError
from pydantic import SecretStr

from leviathan_worker import gitops
from leviathan_worker.gitops import GitFailed, clone_url, environment, error_detail

_GLOB = re.compile(r"([*?\[\\])")


@dataclass(frozen=True, slots=True)
class Checkout:
    path: Path
    repo: Repo
    base_sha: str
    branch: str


def clone_target(
    url: str, branch: str, destination: Path, token: SecretStr | str | None
) -> Checkout:
    """Clone ``branch`` of ``url`` with depth 1 and no work tree into ``destination``."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    source = clone_url(url)
    try:
        repo = Repo.clone_from(
            source,
            destination,
            env=environment(source, token),
            depth=1,
            single_branch=True,
            branch=branch,
            no_tags=True,
            no_checkout=True,
        )
    except GitCommandError as exc:
        raise GitFailed(f"cannot clone branch {branch!r}", error_detail(exc, token)) from None
    return Checkout(destination, repo, repo.head.commit.hexsha, branch)


def work_copy(pristine: Checkout, destination: Path) -> Checkout:
    """A separate clone of the cloned commit for the change engine, with no remote.

    The engine gets a git repository of its own (coding tools expect one), but not
    the publisher's: whatever it does to this ``.git`` stays there, because the
    publisher reads the work tree as data and never runs git in it again.
    """
    if destination.exists():
        shutil.rmtree(destination)
    try:
        repo = Repo.clone_from(
            str(pristine.path),
            destination,
            env=environment(),
            no_hardlinks=True,
            no_checkout=True,
            branch=pristine.branch,
        )
    except GitCommandError as exc:
        raise GitFailed("cannot copy the clone for the engine", error_detail(exc, None)) from None
    gitops.run(repo, "remote", "remove", "origin", action="detaching the engine's clone")
    return Checkout(destination, repo, pristine.base_sha, pristine.branch)


def read_committed(checkout: Checkout, path: str) -> bytes | None:
    """A file's content in the cloned commit (no work tree needed), None when absent."""
    try:
        blob = checkout.repo.head.commit.tree / path
    except KeyError:
        return None
    data: bytes = blob.data_stream.read()
    return data


def sparse_patterns(paths: Sequence[str]) -> list[str]:
    """Non-cone sparse-checkout patterns that match exactly ``paths`` (files or folders)."""
    return ["/" + _GLOB.sub(r"\\\1", p) for p in sorted(set(paths))]


def populate(checkout: Checkout, paths: Sequence[str] | None) -> None:
    """Write the work tree: everything, or only ``paths`` (which need not exist)."""
    repo = checkout.repo
    if paths is not None:
        patterns = sparse_patterns(paths)
        gitops.run(repo, "sparse-checkout", "set", "--no-cone", "--", *patterns,
                   action="choosing the paths to check out")  # fmt: skip
    gitops.run(repo, "checkout", "-q", checkout.branch, action="checking out the work tree")
