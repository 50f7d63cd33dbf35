"""The worker's credential for git over HTTPS: ``GITHUB_TOKEN``, or a GitHub App's tokens.

An App's installation token lives an hour, so the worker asks for it at the
clone and again before each push rather than holding one for the attempt;
every token handed out joins the console's secrets at once, so no line the
attempt prints can carry it.
"""

from __future__ import annotations

from pydantic import SecretStr

from leviathan_adapters.forge.base import ForgeUnavailable
from leviathan_adapters.github_credentials import GitCredentials
from leviathan_core.events import FailureReason
from leviathan_worker.failure import AttemptFailure
from leviathan_worker.report import Console


class GitToken:
    """Call it for the token to use now; ``secrets`` lists what output must never show."""

    def __init__(
        self, static: SecretStr | None, credentials: GitCredentials | None, console: Console
    ) -> None:
        self.static = static
        self.app = credentials if credentials is not None and credentials.app else None
        self.console = console

    @property
    def missing(self) -> bool:
        return self.static is None and self.app is None

    def secrets(self) -> list[str]:
        return self.app.secrets() if self.app is not None else []

    def __call__(self) -> SecretStr | None:
        if self.app is None:
            return self.static
        try:
            token = self.app.token()
        except ForgeUnavailable as exc:
            raise AttemptFailure(FailureReason.FORGE_ERROR, f"no GitHub App token: {exc}") from None
        known = self.console.secrets
        known.extend(s for s in self.app.secrets() if s not in known)
        return token
