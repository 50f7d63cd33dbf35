"""Git commands the worker runs, with one safe configuration and clean errors.

Every call disables hooks, fsmonitor and attribute files outside the tree,
never prompts, ignores the machine's system and global git config (so a
developer's ``commit.gpgsign`` cannot change a result), runs in an environment
built from a short allowlist (never a copy of the worker's, which holds the
control-plane token), and turns git's errors into ``GitFailed`` with the token
scrubbed from git's own words. The publisher runs git only in its own clone,
which the change engine never sees (see ``changeset``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from git import Repo
from git.exc import GitCommandError
from pydantic import SecretStr

from leviathan_adapters.git_auth import git_env, scrub

SAFE_OPTIONS: Final = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.attributesFile=/dev/null",
    "-c", "protocol.ext.allow=never",
)  # fmt: skip
# What git may see of the worker's environment: where programs and certificates
# are, proxies and the locale. Nothing else (tokens live in the environment).
PASSED_THROUGH: Final = frozenset(
    {
        "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    }
)  # fmt: skip


class GitFailed(RuntimeError):
    """A git command failed; ``detail`` is git's scrubbed stderr."""

    def __init__(self, action: str, detail: str) -> None:
        super().__init__(f"{action}: {detail}" if detail else action)
        self.action = action
        self.detail = detail


def environment(url: str = "", token: SecretStr | str | None = None) -> dict[str, str]:
    """The environment for git: auth header scoped to ``url`` when a token is given."""
    base = {name: value for name, value in os.environ.items() if name in PASSED_THROUGH}
    env = git_env(url, token, base_env=base)
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_ATTR_NOSYSTEM"] = "1"
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


def run_input(
    repo: Repo, *args: str, data: bytes, action: str, env: Mapping[str, str] | None = None
) -> str:
    """``git <args>`` with ``data`` on stdin (for ``update-index -z --index-info``)."""
    done = subprocess.run(
        ["git", *SAFE_OPTIONS, *args],
        cwd=repo.working_tree_dir or repo.git_dir,
        input=data,
        env=dict(env) if env is not None else environment(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise GitFailed(action, done.stderr.decode(errors="replace").strip()[-800:])
    return done.stdout.decode(errors="surrogateescape").rstrip("\n")


def open_repo(path: Path) -> Repo:
    return Repo(path)
