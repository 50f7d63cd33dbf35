"""GitHub App credentials: installation tokens minted with the App's JWT, cached, refreshed.

PyGithub signs the JWT (``Auth.AppAuth``, RS256 through PyJWT) and asks for
the token (``GithubIntegration``); this module keeps the token until shortly
before it expires, so the API client and git over HTTPS share one token and a
scheduler cycle costs no extra call. The installation is configured or looked
up once from the repository (``GET /repos/{owner}/{repo}/installation``).

Secrets stay out of text: every error is scrubbed of the private key and of
every token this object ever handed out, and ``issued`` lists those tokens
for the callers that scrub their own output.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import Any

from github import Auth, GithubIntegration
from github.GithubException import GithubException
from pydantic import SecretStr

from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.github import GitHubForge, transport_retry
from leviathan_adapters.git_auth import scrub
from leviathan_core.github_auth import ENV_APP_ID, ENV_APP_INSTALLATION, GitHubApp

REFRESH_MARGIN = timedelta(minutes=5)  # GitHub's tokens live an hour; renew well before
KEEP_ISSUED = 48  # tokens remembered for scrubbing: two days of hourly renewals
_REQUESTER_LOG = "github.Requester"  # PyGithub logs every request and answer here at DEBUG


class WithholdTokenAnswers(logging.Filter):
    """Keeps the answer to a token mint (the token itself) out of PyGithub's DEBUG log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args and any("/access_tokens" in str(a) for a in args):
            record.args = (*args[:-1], "(an installation token: not logged)")
        return True


def withhold_token_answers() -> None:
    logger = logging.getLogger(_REQUESTER_LOG)
    if not any(isinstance(f, WithholdTokenAnswers) for f in logger.filters):
        logger.addFilter(WithholdTokenAnswers())


class GitHubAppError(ForgeUnavailable):
    """No installation token: wrong key or id, the App not installed, GitHub unreachable."""


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class InstallationTokens:
    """Installation tokens of one App installation, minted on demand and cached."""

    def __init__(
        self,
        app: GitHubApp,
        *,
        api_url: str = "https://api.github.com",
        repo: str | None = None,
        timeout: float = 10,
        retries: int = 2,
        now: Callable[[], datetime] | None = None,
        margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        if app.installation_id is None and repo is None:
            raise ValueError(f"{ENV_APP_INSTALLATION} is not set and no repository to look it up")
        self.app_id = app.app_id
        self.api_url = api_url.rstrip("/")
        self.repo = repo
        self.installation_id = app.installation_id
        self.issued: list[str] = []
        self._key = app.private_key
        self._now = now or (lambda: datetime.now(UTC))
        self._margin = margin
        self._lock = threading.Lock()
        self._current: tuple[str, datetime] | None = None
        withhold_token_answers()
        self._integration = GithubIntegration(
            auth=Auth.AppAuth(app.app_id, app.private_key.get_secret_value()),
            base_url=self.api_url,
            timeout=max(1, ceil(timeout)),
            retry=transport_retry(retries),
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )

    def token(self) -> SecretStr:
        """A token valid for at least the refresh margin; minted when the cached one is not."""
        with self._lock:
            current = self._current
            if current is None or current[1] - self._now() <= self._margin:
                current = self._mint()
                self._current = current
            return SecretStr(current[0])

    def secrets(self) -> list[str]:
        """What must never appear in output: the key (whole, and each line of its body)
        and the tokens handed out (the newest ``KEEP_ISSUED``; older ones have expired)."""
        key = self._key.get_secret_value()
        lines = [line.strip() for line in key.splitlines() if "-----" not in line]
        return [key, *(line for line in lines if len(line) >= 16), *self.issued]

    def scrub(self, text: str) -> str:
        for secret in self.secrets():
            text = scrub(text, secret)
        return text

    def _mint(self) -> tuple[str, datetime]:
        installation = self._installation()
        try:
            answer = self._integration.get_access_token(installation)
            token, expires = str(answer.token), _utc(answer.expires_at)
        except Exception as exc:
            raise self._error(exc, f"minting a token for installation {installation}") from None
        self.issued.append(token)
        del self.issued[:-KEEP_ISSUED]
        return token, expires

    def _installation(self) -> int:
        if self.installation_id is None:
            assert self.repo is not None
            owner, name = self.repo.split("/", 1)
            action = f"looking up the App's installation on {self.repo}"
            try:
                self.installation_id = int(self._integration.get_repo_installation(owner, name).id)
            except GithubException as exc:
                if exc.status == 404:
                    raise GitHubAppError(
                        f"GitHub App {self.app_id} is not installed on {self.repo} "
                        f"(404 while {action}): install it there or set {ENV_APP_INSTALLATION}"
                    ) from None
                raise self._error(exc, action) from None
            except Exception as exc:
                raise self._error(exc, action) from None
        return self.installation_id

    def _error(self, exc: Exception, action: str) -> GitHubAppError:
        if isinstance(exc, GithubException):
            message = exc.data.get("message") if isinstance(exc.data, dict) else None
            detail = f"GitHub answered {exc.status} ({message or 'no message'}) while {action}"
            if exc.status == 401:
                detail += (
                    f": GitHub refused the App's signed JWT; check {ENV_APP_ID} and that the "
                    "private key is the App's"
                )
            elif exc.status == 404:
                detail += f": check {ENV_APP_INSTALLATION} and {ENV_APP_ID}"
        else:
            detail = f"cannot reach GitHub while {action}: {type(exc).__name__}: {exc}"
        return GitHubAppError(self.scrub(detail))


class InstallationAuth(Auth.Auth):
    """PyGithub's per-request auth from the shared cache (refreshed before expiry)."""

    def __init__(self, tokens: InstallationTokens) -> None:
        self.tokens = tokens

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self.tokens.token().get_secret_value()


class GitHubAppForge(GitHubForge):
    """GitHubForge authenticated as an App installation; its errors name no token."""

    def __init__(self, repo_full_name: str, tokens: InstallationTokens, **kwargs: Any) -> None:
        super().__init__(repo_full_name, None, auth=InstallationAuth(tokens), **kwargs)
        self.tokens = tokens

    def _mapped(self, exc: Exception, action: str) -> Exception:
        if isinstance(exc, GitHubAppError):
            return exc
        mapped = super()._mapped(exc, action)
        if isinstance(mapped, ForgeUnavailable | ForgeRejected):
            return type(mapped)(self.tokens.scrub(str(mapped)))
        return mapped
