"""Read the target's ``.leviathan/backlog.yaml`` each tick without cloning.

A shallow bare mirror lives at ``<cache_dir>/<target_id>.git``. Each read runs
one ``git fetch --depth=1`` of the target branch into it (a no-op round trip
when nothing changed), then looks the file up in the branch's tree. Bytes are
only read when the blob id changed since this source's previous read, and
``BacklogSnapshot.changed`` tells the caller whether it must parse again;
keep one ``BacklogSource`` per target per process to benefit from that.

The fetch authenticates through ``git_auth.git_env`` (a header in the process
environment) with ``GITHUB_TOKEN`` or a GitHub App's installation token
(``github_credentials``), so the token is never in the URL, the mirror's config, or the
messages of the errors raised here. An flock serialises fetches of one mirror
across the processes of one machine.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from git import Blob, GitCommandError, Repo
from git.exc import GitError

from leviathan_adapters.forge.base import ForgeUnavailable
from leviathan_adapters.git_auth import auth_failed, git_env, is_http_url
from leviathan_adapters.github_credentials import GitCredentials
from leviathan_core.config import AutonomyConfig, ConfigError
from leviathan_core.constants import BACKLOG_PATH
from leviathan_core.settings import Settings


class BacklogUnavailable(RuntimeError):
    """The backlog could not be read (network, auth, missing branch, broken cache)."""


class BacklogMissing(BacklogUnavailable):
    """The branch exists but has no backlog file."""


@dataclass(frozen=True)
class BacklogSnapshot:
    sha: str  # blob id of the backlog file
    data: bytes
    changed: bool  # False when the blob is the one this source returned last time
    commit: str = ""  # the branch's commit the file was read from


class BacklogSource:
    """The backlog of one target, read through a cached shallow mirror."""

    def __init__(
        self,
        config: AutonomyConfig,
        settings: Settings,
        *,
        path: str = BACKLOG_PATH,
        timeout: float = 60,
    ) -> None:
        self.url = config.target_repo_url
        self.branch = config.target_branch
        self.path = path
        self.mirror = Path(settings.cache_dir) / f"{config.target_id}.git"
        self.timeout = timeout
        try:
            self._credentials = GitCredentials.for_target(config, settings)
        except ConfigError as exc:
            raise BacklogUnavailable(f"target {config.target_id}: {exc}") from None
        self._last: BacklogSnapshot | None = None
        if is_http_url(self.url) and urlsplit(self.url).username:
            raise BacklogUnavailable(
                f"target {config.target_id}: target_repo_url carries credentials; "
                "remove them from the URL and set GITHUB_TOKEN instead"
            )

    def read(self) -> BacklogSnapshot:
        """Fetch the branch tip and return the backlog file at it."""
        try:
            with self._locked(), closing(self._open_mirror()) as repo:
                commit = self._fetch(repo)
                return self._snapshot(repo, commit)
        except BacklogUnavailable:
            raise
        except (GitError, OSError, ValueError) as exc:
            raise BacklogUnavailable(
                self._clean(f"cannot read {self.path} from {self.url}: {exc}")
            ) from None

    def _snapshot(self, repo: Repo, commit: str) -> BacklogSnapshot:
        last = self._last
        if last is not None and last.commit == commit:
            return BacklogSnapshot(last.sha, last.data, False, commit)
        try:
            item = repo.commit(commit).tree / self.path
        except KeyError:
            raise BacklogMissing(
                f"{self.path} not found on branch {self.branch!r} of {self._clean(self.url)}"
            ) from None
        if not isinstance(item, Blob):
            raise BacklogMissing(f"{self.path} on branch {self.branch!r} is not a file")
        if last is not None and last.sha == item.hexsha:
            snapshot = BacklogSnapshot(last.sha, last.data, False, commit)
        else:
            snapshot = BacklogSnapshot(item.hexsha, item.data_stream.read(), True, commit)
        self._last = snapshot
        return snapshot

    def _fetch(self, repo: Repo) -> str:
        """Bring ``refs/heads/<branch>`` of the mirror to the remote tip; return its id."""
        ref = f"refs/heads/{self.branch}"
        try:
            token = self._credentials.token()
        except ForgeUnavailable as exc:  # a GitHub App's token could not be minted
            raise BacklogUnavailable(self._clean(f"cannot fetch {self.path}: {exc}")) from None
        try:
            repo.git.fetch(
                "--quiet",
                "--depth=1",
                "--no-tags",
                "--no-write-fetch-head",
                "--",
                self.url,
                f"+{ref}:{ref}",
                env=git_env(self.url, token),
                kill_after_timeout=self.timeout,
            )
        except GitCommandError as exc:
            raise BacklogUnavailable(self._fetch_error(exc)) from None
        return str(repo.git.rev_parse("--verify", f"{ref}^{{commit}}"))

    def _fetch_error(self, exc: GitCommandError) -> str:
        stderr = str(exc.stderr or "").strip().removeprefix("stderr:").strip(" '\n")
        where = f"{self._clean(self.url)} (branch {self.branch!r})"
        if "couldn't find remote ref" in stderr:
            return f"branch {self.branch!r} not found in {self._clean(self.url)}"
        if auth_failed(stderr):
            hint = self._auth_hint()
            return self._clean(f"{where}: the server refused access ({hint}): {stderr}")
        killed = isinstance(exc.status, int) and exc.status < 0
        reason = stderr or (
            f"no answer within {self.timeout:g} s" if killed else f"exit status {exc.status}"
        )
        return self._clean(f"git fetch of {where} failed: {reason}")

    def _open_mirror(self) -> Repo:
        if (self.mirror / "HEAD").exists():
            return Repo(self.mirror)
        self.mirror.parent.mkdir(parents=True, exist_ok=True)
        return Repo.init(self.mirror, bare=True, mkdir=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.mirror.parent.mkdir(parents=True, exist_ok=True)
        with open(self.mirror.with_name(self.mirror.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _auth_hint(self) -> str:
        if self._credentials.app is not None:
            return "check the GitHub App's access to the repository"
        return "check GITHUB_TOKEN" if self._credentials.configured else "no GITHUB_TOKEN is set"

    def _clean(self, text: str) -> str:
        return self._credentials.scrub(text)
