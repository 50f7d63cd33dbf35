"""Turn PyGithub / requests failures into the forge's two error kinds.

``ForgeUnavailable`` means "this fact cannot be read right now" (network,
rate limits, 5xx, credentials, a token without access to the repository) and
makes the scheduler skip the cycle with ``fact_unavailable:forge``;
``ForgeRejected`` means GitHub answered and said no. Messages name the action
and GitHub's own words, never the token.

Rate limits are read from the status and headers GitHub documents
(``retry-after``, ``x-ratelimit-remaining: 0``, a 429), never from one wording
of the message, which GitHub varies; PyGithub's own wording test only counts
when no header says anything.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from github.GithubException import GithubException, RateLimitExceededException
from pydantic import SecretStr

from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.git_auth import scrub

ALREADY_EXISTS = "a pull request already exists"
NOT_ACCESSIBLE = "resource not accessible by"
CHECK_ACCESS = "check the token's access to the repository"


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


def _headers(exc: GithubException) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}


def rate_limit(exc: GithubException) -> str | None:
    """Which rate limit ``exc`` is, from its status and headers; None when it is none.

    GitHub's documented signals: a 403 or 429 with ``retry-after`` (wait that
    long), with ``x-ratelimit-remaining: 0`` (wait until ``x-ratelimit-reset``),
    or a 429 alone (wait at least a minute). A 403 with none of these is a
    limit only when its message says so (PyGithub's test, or "rate limit").
    """
    if exc.status not in (403, 429):
        return None
    headers = _headers(exc)
    retry_after = headers.get("retry-after", "").strip()
    if retry_after:
        return f"secondary rate limit, retry after {retry_after} s"
    if headers.get("x-ratelimit-remaining", "").strip() == "0":
        reset = headers.get("x-ratelimit-reset", "").strip()
        if reset.isdigit():
            wait = max(0, int(reset) - int(time.time()))
            return f"primary rate limit exhausted, resets in {wait} s"
        return "primary rate limit exhausted"
    if exc.status == 429:
        return "rate limit (429 without Retry-After), retry in a minute or more"
    worded = any("rate limit" in m.lower() for m in error_messages(exc))
    if isinstance(exc, RateLimitExceededException) or worded:
        return "rate limit exceeded"
    return None


def access_denied(exc: GithubException, repo: str, repo_hidden: bool) -> str | None:
    """Why the token may not do this on ``repo``, or None when that is not the refusal.

    GitHub answers 404 for a private repository the token cannot see
    (``repo_hidden``: the repository itself answered 404), and 403 "Resource
    not accessible by personal access token / integration" to a token that
    lacks a permission, naming it in ``X-Accepted-GitHub-Permissions``.
    """
    if exc.status == 404 and repo_hidden:
        return (
            f"the token cannot see {repo} (GitHub answers 404 for a private repository "
            f"the token has no access to): {CHECK_ACCESS}"
        )
    if exc.status == 403 and any(NOT_ACCESSIBLE in m.lower() for m in error_messages(exc)):
        wanted = _headers(exc).get("x-accepted-github-permissions", "").strip()
        needs = f" (GitHub wants {wanted})" if wanted else ""
        return f"the token may not do this on {repo}{needs}: {CHECK_ACCESS}"
    return None


def translate(
    exc: Exception,
    action: str,
    token: SecretStr | str | None,
    *,
    repo: str = "the repository",
    repo_hidden: bool = False,
) -> ForgeUnavailable | ForgeRejected:
    """The forge error for ``exc`` raised while ``action`` on ``repo``.

    ``repo_hidden``: the repository itself answered 404, so a 404 means the
    token cannot see it rather than a missing object. Anything unforeseen (a
    malformed answer, a redirect to another host that PyGithub refuses) is
    ``ForgeUnavailable`` too: callers must never see a library exception, and
    an unreadable fact fails closed.
    """
    if isinstance(exc, (ForgeUnavailable, ForgeRejected)):
        return exc  # already ours (a rate-limit hold, a malformed answer)
    if isinstance(exc, GithubException):
        detail = "; ".join(error_messages(exc)) or "no message"
        limit = rate_limit(exc)
        if limit is not None:
            return ForgeUnavailable(scrub(f"GitHub refused {action}: {limit}", token))
        denied = access_denied(exc, repo, repo_hidden)
        if denied is not None:
            text = f"GitHub answered {exc.status} while {action} ({detail}); {denied}"
            return ForgeUnavailable(scrub(text, token))
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
