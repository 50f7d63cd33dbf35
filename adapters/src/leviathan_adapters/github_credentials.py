"""The GitHub credential of a target: the fixed ``GITHUB_TOKEN``, or a GitHub App's tokens.

The scheduler's backlog fetch, its forge, and the worker's clone and push all
ask here, so one App installation has one token cache per process (minting a
token per cycle would cost a call per tick and leave dozens of live tokens
about). The cache is keyed by the App, its key, its installation (or the
repository it is looked up from) and the API host, and lives as long as the
process: a token is renewed shortly before it expires, never stored on disk.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

from pydantic import SecretStr

from leviathan_adapters.git_auth import is_http_url, scrub, secret_value
from leviathan_core.config import AutonomyConfig, ConfigError
from leviathan_core.github_auth import ENV_APP_INSTALLATION, GitHubAuthError
from leviathan_core.settings import Settings

if TYPE_CHECKING:
    from leviathan_adapters.forge.github_app import InstallationTokens

_CACHE: dict[tuple[str, int, str, str], InstallationTokens] = {}
_CACHE_LOCK = threading.Lock()


def app_tokens(settings: Settings, api_url: str, repo: str | None) -> InstallationTokens | None:
    """The process's token cache for the configured App (None: no App configured)."""
    try:
        app = settings.github_app()
    except GitHubAuthError as exc:
        raise ConfigError(str(exc)) from None
    if app is None:
        return None
    if app.installation_id is None and repo is None:
        raise ConfigError(
            f"{ENV_APP_INSTALLATION} is not set and the target's URL names no GitHub "
            "repository to look the installation up from"
        )
    # Imported here: PyGithub costs seconds of start-up that token-less processes never need.
    from leviathan_adapters.forge.github_app import InstallationTokens

    digest = hashlib.sha256(app.private_key.get_secret_value().encode()).hexdigest()
    where = str(app.installation_id) if app.installation_id is not None else str(repo)
    key = (api_url.rstrip("/"), app.app_id, where, digest)
    with _CACHE_LOCK:
        tokens = _CACHE.get(key)
        if tokens is None:
            tokens = InstallationTokens(app, api_url=api_url, repo=repo)
            _CACHE[key] = tokens
        return tokens


class GitCredentials:
    """The token for one target's git over HTTPS (and what to scrub from any text)."""

    def __init__(
        self, static: SecretStr | None = None, app: InstallationTokens | None = None
    ) -> None:
        self.static = static if secret_value(static) else None
        self.app = app

    @classmethod
    def for_target(cls, config: AutonomyConfig, settings: Settings) -> GitCredentials:
        """Nothing for a local target; the App's tokens or the fixed token otherwise."""
        if config.forge != "github" and not is_http_url(config.target_repo_url):
            return cls()
        tokens = app_tokens(settings, config.github_api_url, config.github_repo)
        return cls(None, tokens) if tokens is not None else cls(settings.github_token)

    @property
    def configured(self) -> bool:
        return self.static is not None or self.app is not None

    def token(self) -> SecretStr | None:
        """The token to use now (an App's is minted or renewed here; may raise
        ``GitHubAppError``, a ``ForgeUnavailable``)."""
        return self.app.token() if self.app is not None else self.static

    def secrets(self) -> list[str]:
        if self.app is not None:
            return self.app.secrets()
        plain = secret_value(self.static)
        return [plain] if plain else []

    def scrub(self, text: str) -> str:
        for secret in self.secrets():
            text = scrub(text, secret)
        return scrub(text, None)
