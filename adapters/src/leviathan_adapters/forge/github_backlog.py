"""The backlog of a GitHub target, read through the contents API with ETags.

One conditional ``GET /repos/{o}/{r}/contents/.leviathan/backlog.yaml?ref=<branch>``
per tick, through the target's forge: the same connection pool, the same
ETag cache and the same rate-limit hold. An unchanged backlog is a 304, which
GitHub does not count against the rate limit, so an idle tick costs nothing
and no ``git`` process is started; 10,000 targets are 10,000 cached answers,
not 10,000 mirrors fetched every five minutes.

The contents API carries files up to 1 MB inline. A larger backlog (the cap
is 5 MB) is read from the git mirror instead (``BacklogSource``), so both
sizes work; ``backlog_read: git`` in the target file forces the mirror.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException

from leviathan_adapters.backlog_source import BacklogMissing, BacklogSnapshot, BacklogUnavailable
from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.github import GitHubForge
from leviathan_core.constants import BACKLOG_PATH


class GitHubBacklogSource:
    """``read()`` as ``BacklogSource`` does it, for a target whose forge is GitHub."""

    def __init__(
        self,
        forge: GitHubForge,
        branch: str,
        *,
        path: str = BACKLOG_PATH,
        large: Callable[[], Any] | None = None,
    ) -> None:
        """``large``: makes the git mirror's source, for a backlog over 1 MB."""
        self.forge = forge
        self.branch = branch
        self.path = path
        self._large = large
        self._mirror: Any = None
        self._last_sha: str | None = None

    def read(self) -> BacklogSnapshot:
        url = f"/repos/{self.forge.repo_full_name}/contents/{quote(self.path)}"
        try:
            data = self.forge.get_json(url, {"ref": self.branch}, f"reading {self.path}")
        except GithubException as exc:
            if exc.status == 404:
                raise BacklogMissing(
                    f"{self.path} not found on branch {self.branch!r} of "
                    f"{self.forge.repo_full_name} (GitHub answered 404)"
                ) from None
            raise BacklogUnavailable(f"GitHub answered {exc.status} reading {self.path}") from None
        except (ForgeUnavailable, ForgeRejected) as exc:
            raise BacklogUnavailable(str(exc)) from None
        if not isinstance(data, dict) or data.get("type") != "file":
            raise BacklogMissing(f"{self.path} on branch {self.branch!r} is not a file")
        sha = str(data.get("sha") or "")
        content, size = data.get("content") or "", int(data.get("size") or 0)
        if not content and size > 0:
            return self._from_mirror()
        try:
            raw = base64.b64decode(str(content), validate=False)
        except (binascii.Error, ValueError):
            raise BacklogUnavailable(f"GitHub sent {self.path} in an unreadable encoding") from None
        changed = sha != self._last_sha
        self._last_sha = sha
        return BacklogSnapshot(sha, raw, changed)

    def _from_mirror(self) -> BacklogSnapshot:
        if self._large is None:
            raise BacklogUnavailable(
                f"{self.path} is over 1 MB, which GitHub's contents API does not carry"
            )
        if self._mirror is None:
            self._mirror = self._large()
        snapshot: BacklogSnapshot = self._mirror.read()
        return snapshot
