"""Turn PyGithub / requests failures into the forge's two error kinds.

``ForgeUnavailable`` means "this fact cannot be read right now" (network,
rate limits, 5xx, credentials) and makes the scheduler skip the cycle with
``fact_unavailable:forge``; ``ForgeRejected`` means GitHub answered and said
no. Messages name the action and GitHub's own words, never the token.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from github.GithubException import GithubException, RateLimitExceededException
from pydantic import SecretStr

from leviathan_shared.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_shared.git_auth import scrub

ALREADY_EXISTS = "a pull request already exists"


def error_messages(exc: GithubException) -> list[str]:
    """GitHub's message plus every ``errors[].message`` (or field/code) in the body."""
    data: Any = exc.data if isinstance(exc.data, dict) else {}
    found = [str(data["message"])] if data.get("message") else []
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            text = item.get("message") or " ".join(
                str(item[k]) for k in ("field", "code") if item.get(k)
            )
            found.append(str(text))
        else:
            found.append(str(item))
    return found


def is_duplicate_pull(exc: Exception) -> bool:
    """GitHub's 422 for a second open PR from the same head branch."""
    return (
        isinstance(exc, GithubException)
        and exc.status == 422
        and any(ALREADY_EXISTS in m.lower() for m in error_messages(exc))
    )


def _rate_limit_text(exc: GithubException) -> str:
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    if headers.get("retry-after"):
        return f"secondary rate limit, retry after {headers['retry-after']} s"
    reset = headers.get("x-ratelimit-reset")
    if headers.get("x-ratelimit-remaining") == "0" and reset and reset.isdigit():
        wait = max(0, int(reset) - int(time.time()))
        return f"primary rate limit exhausted, resets in {wait} s"
    return "rate limit exceeded"


def translate(
    exc: Exception, action: str, token: SecretStr | str | None
) -> ForgeUnavailable | ForgeRejected:
    """The forge error for ``exc`` raised while ``action``.

    Anything unforeseen (a malformed answer, a redirect to another host that
    PyGithub refuses) is ``ForgeUnavailable`` too: callers must never see a
    library exception, and an unreadable fact fails closed.
    """
    if isinstance(exc, RateLimitExceededException) or (
        isinstance(exc, GithubException) and exc.status == 429
    ):
        text = f"GitHub refused {action}: {_rate_limit_text(exc)}"
        return ForgeUnavailable(scrub(text, token))
    if isinstance(exc, GithubException):
        detail = "; ".join(error_messages(exc)) or "no message"
        if exc.status == 401:
            text = (
                f"GitHub rejected the credentials while {action} (401: {detail}); "
                "check GITHUB_TOKEN"
            )
            return ForgeUnavailable(scrub(text, token))
        if exc.status >= 500 or exc.status == 408:
            return ForgeUnavailable(
                scrub(f"GitHub answered {exc.status} while {action}: {detail}", token)
            )
        return ForgeRejected(scrub(f"GitHub answered {exc.status} while {action}: {detail}", token))
    if isinstance(exc, requests.exceptions.RequestException):
        reason = str(exc) or type(exc).__name__
        return ForgeUnavailable(
            scrub(f"cannot reach GitHub while {action}: {type(exc).__name__}: {reason}", token)
        )
    detail = str(exc) or "no details"
    return ForgeUnavailable(
        scrub(f"unexpected {type(exc).__name__} while {action}: {detail}", token)
    )
