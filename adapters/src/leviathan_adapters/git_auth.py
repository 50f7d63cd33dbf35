"""Give git a forge token without ever writing it down.

The token travels as an ``http.<origin>/.extraHeader`` set through the
``GIT_CONFIG_COUNT`` / ``GIT_CONFIG_KEY_n`` / ``GIT_CONFIG_VALUE_n`` environment
variables (git >= 2.31): not in the remote URL, not in ``.git/config``, not on
the command line (which other users can read in ``/proc``). The header is
scoped to the repository's own scheme, host and port, so a redirect elsewhere
never receives it. ``scrub`` removes the token (and the header built from it)
from any text before it reaches a log or an exception message.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

REDACTED = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def secret_value(token: SecretStr | str | None) -> str | None:
    """The plain token, or None when absent or empty."""
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    return value or None


def is_http_url(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


def basic_auth_header(token: str) -> str:
    """The header value GitHub (and GitHub Enterprise) accept for git over https."""
    pair = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
    return f"Authorization: Basic {pair}"


def header_scope(url: str) -> str:
    """``https://host[:port]/`` of ``url``: the prefix git matches the header against."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme.lower(), netloc, "/", "", ""))


def git_env(
    url: str,
    token: SecretStr | str | None,
    base_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The full environment for a git process that talks to ``url``.

    Never prompts (a Job has no terminal). For http(s) URLs with a token, adds
    the scoped auth header after any ``GIT_CONFIG_*`` entries already present.
    """
    env = dict(os.environ if base_env is None else base_env)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.pop("GIT_TRACE_CURL", None)  # would print the header
    env.pop("GIT_CURL_VERBOSE", None)
    plain = secret_value(token)
    if plain is None or not is_http_url(url):
        return env
    index = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
    env[f"GIT_CONFIG_KEY_{index}"] = f"http.{header_scope(url)}.extraHeader"
    env[f"GIT_CONFIG_VALUE_{index}"] = basic_auth_header(plain)
    env["GIT_CONFIG_COUNT"] = str(index + 1)
    return env


_AUTH_FAILURES = ("could not read username", "authentication failed", "401", "403")


def auth_failed(stderr: str) -> bool:
    """Whether git's stderr says the server refused (or asked for) credentials."""
    text = stderr.lower()
    return any(marker in text for marker in _AUTH_FAILURES)


def redact_url(url: str) -> str:
    """Drop any ``user:password@`` part from URLs inside ``url`` (or any text)."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", url)


def scrub(text: str, token: SecretStr | str | None) -> str:
    """``text`` without the token, its auth header form, or URL credentials."""
    plain = secret_value(token)
    if plain:
        header = basic_auth_header(plain).removeprefix("Authorization: Basic ")
        text = text.replace(plain, REDACTED).replace(header, REDACTED)
    return redact_url(text)
