"""Git commands the worker runs, with one safe configuration and clean errors.

Every call disables hooks and fsmonitor (a checkout's own config or a change
command must not run code inside the worker), never prompts, ignores the
machine's system and global git config (so a developer's ``commit.gpgsign``
cannot change a result), and turns GitPython's errors into ``GitFailed`` with
the token scrubbed from git's own words.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from git import Repo
from git.exc import GitCommandError
from pydantic import SecretStr

from leviathan_shared.git_auth import git_env, scrub

SAFE_OPTIONS: Final = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "protocol.ext.allow=never",
)  # fmt: skip


class GitFailed(RuntimeError):
    """A git command failed; ``detail`` is git's scrubbed stderr."""

    def __init__(self, action: str, detail: str) -> None:
        super().__init__(f"{action}: {detail}" if detail else action)
        self.action = action
        self.detail = detail


def environment(url: str = "", token: SecretStr | str | None = None) -> dict[str, str]:
    """The environment for git: auth header scoped to ``url`` when a token is given."""
    env = git_env(url, token)
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    # A change command could plant refs/replace/* so that diffs show one tree and
    # commits carry another; the worker never honours replacement objects.
    env["GIT_NO_REPLACE_OBJECTS"] = "1"
    return env


def clone_url(url: str) -> str:
    """``file://`` for a plain path: git ignores ``--depth`` for plain-path clones."""
    return f"file://{url}" if url.startswith("/") else url


def error_detail(exc: GitCommandError, token: SecretStr | str | None) -> str:
    raw = exc.stderr if isinstance(exc.stderr, str) else repr(exc.stderr)
    lines = [
        line.strip().removeprefix("stderr: ").strip("'").strip()
        for line in raw.splitlines()
        if line.strip()
        and line.strip() not in {"'", "stderr: '"}
        and not line.strip().removeprefix("stderr: '").startswith("Cloning into")
    ]
    return scrub(" | ".join(lines)[-800:], token)


def run(
    repo: Repo,
    *args: str,
    action: str,
    env: Mapping[str, str] | None = None,
    token: SecretStr | str | None = None,
) -> str:
    """Run ``git <args>`` in ``repo`` and return stdout (trailing newline removed)."""
    try:
        out = repo.git.execute(
            ["git", *SAFE_OPTIONS, *args],
            env=dict(env) if env is not None else environment(),
            strip_newline_in_stdout=True,
        )
    except GitCommandError as exc:
        raise GitFailed(action, error_detail(exc, token)) from None
    return str(out)


def open_repo(path: Path) -> Repo:
    return Repo(path)
