"""Which GitHub credentials a process holds: a token, a GitHub App, or none.

Pure checks over the values ``Settings`` read, so a half-configured App (an
id without a key, a key without an id) or two credentials at once stop the
process at start with the variable to fix, instead of failing on the first
clone an hour later. A process with both a token and an App refuses to start:
guessing which one the operator meant could push with the wrong identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pydantic import SecretStr

ENV_APP_ID: Final = "GITHUB_APP_ID"
ENV_APP_KEY: Final = "GITHUB_APP_PRIVATE_KEY"
ENV_APP_KEY_FILE: Final = "GITHUB_APP_PRIVATE_KEY_FILE"
ENV_APP_INSTALLATION: Final = "GITHUB_APP_INSTALLATION_ID"
ENV_TOKEN: Final = "GITHUB_TOKEN"  # noqa: S105 (a name)

AuthMode = Literal["token", "app", "none"]


class GitHubAuthError(ValueError):
    """The GitHub credentials are incomplete or contradict each other."""


@dataclass(frozen=True, slots=True)
class GitHubApp:
    """A GitHub App's identity: installation tokens are minted from it, never stored."""

    app_id: int
    private_key: SecretStr
    installation_id: int | None = None


def _given(value: SecretStr | str | None) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value().strip())
    return bool(value and value.strip())


def auth_mode(
    *,
    token: SecretStr | None,
    app_id: int | None,
    key: SecretStr | None,
    key_file: str | None,
    installation_id: int | None,
) -> AuthMode:
    """``token``, ``app`` or ``none``; a GitHubAuthError names the variable to fix."""
    app_parts = {
        ENV_APP_KEY: _given(key),
        ENV_APP_KEY_FILE: _given(key_file),
        ENV_APP_INSTALLATION: installation_id is not None,
    }
    if app_id is None:
        stray = [name for name, present in app_parts.items() if present]
        if stray:
            raise GitHubAuthError(
                f"{', '.join(stray)} set without {ENV_APP_ID}: set {ENV_APP_ID} to the "
                "GitHub App's id, or unset them"
            )
        return "token" if _given(token) else "none"
    if app_parts[ENV_APP_KEY] and app_parts[ENV_APP_KEY_FILE]:
        raise GitHubAuthError(
            f"both {ENV_APP_KEY} and {ENV_APP_KEY_FILE} are set: give the App's private key once"
        )
    if not (app_parts[ENV_APP_KEY] or app_parts[ENV_APP_KEY_FILE]):
        raise GitHubAuthError(
            f"{ENV_APP_ID} is set but the App's private key is not: set {ENV_APP_KEY} "
            f"(the PEM text) or {ENV_APP_KEY_FILE} (a file holding it)"
        )
    if _given(token):
        raise GitHubAuthError(
            f"both {ENV_TOKEN} and {ENV_APP_ID} are set: a process uses one GitHub "
            f"credential; unset {ENV_TOKEN} to use the App, or the {ENV_APP_ID} group "
            "to use the token"
        )
    return "app"


def read_private_key(key: SecretStr | None, key_file: str | None) -> SecretStr:
    """The App's PEM key from its variable or its file; the error names which."""
    if key is not None and _given(key):
        text = key.get_secret_value()
        if "\n" not in text and "\\n" in text:  # one line, as some secret stores keep it
            text = text.replace("\\n", "\n")
        if "PRIVATE KEY-----" not in text:
            raise GitHubAuthError(f"{ENV_APP_KEY} does not hold a PEM private key")
        return SecretStr(text)
    path = Path(str(key_file))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GitHubAuthError(
            f"{ENV_APP_KEY_FILE}={path}: cannot read the App's private key ({type(exc).__name__})"
        ) from None
    if "PRIVATE KEY-----" not in text:
        raise GitHubAuthError(f"{ENV_APP_KEY_FILE}={path}: not a PEM private key")
    return SecretStr(text)
