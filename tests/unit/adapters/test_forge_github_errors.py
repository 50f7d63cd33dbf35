"""Failure translation and PR mapping for the GitHub forge (pure, no network)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from github.GithubException import (
    BadCredentialsException,
    GithubException,
    RateLimitExceededException,
    UnknownObjectException,
)

from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.github import changed_paths, pr_state, pull_info, transport_retry
from leviathan_adapters.forge.github_errors import (
    access_denied,
    error_messages,
    is_duplicate_pull,
    rate_limit,
    translate,
)

TOKEN = "ghp_secret_value"
DUPLICATE = {
    "message": "Validation Failed",
    "errors": [
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": "A pull request already exists for o:agent/x.",
        }
    ],
}


def test_primary_rate_limit_is_unavailable_with_reset_time() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 120)}
    exc = RateLimitExceededException(403, {"message": "API rate limit exceeded"}, headers)
    mapped = translate(exc, "listing open pull requests", TOKEN)
    assert isinstance(mapped, ForgeUnavailable)
    assert "primary rate limit exhausted, resets in" in str(mapped)
    assert "listing open pull requests" in str(mapped)


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_is_unavailable(status: int) -> None:
    body = {"message": "You have exceeded a secondary rate limit."}
    exc: GithubException = (
        RateLimitExceededException(status, body, {"Retry-After": "30"})
        if status == 403
        else GithubException(status, body, {"Retry-After": "30"})
    )
    mapped = translate(exc, "x", None)
    assert isinstance(mapped, ForgeUnavailable)
    assert "secondary rate limit, retry after 30 s" in str(mapped)


SOON = str(int(time.time()) + 60)
OTHER_TEXT = {"message": "Please slow down."}


@pytest.mark.parametrize(
    ("status", "headers", "body", "words"),
    [
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": SOON}, OTHER_TEXT, "primary"),
        (429, {"X-RateLimit-Remaining": "0"}, OTHER_TEXT, "primary rate limit exhausted"),
        (403, {"Retry-After": "7"}, OTHER_TEXT, "retry after 7 s"),
        (429, {}, OTHER_TEXT, "429 without Retry-After"),
        (429, {"x-ratelimit-remaining": "12"}, None, "429 without Retry-After"),
        (403, {}, {"message": "API rate limit exceeded for 1.2.3.4."}, "rate limit exceeded"),
        (403, {"x-ratelimit-remaining": "4000"}, {"message": "Resource not accessible"}, None),
        (403, {}, OTHER_TEXT, None),
        (404, {"x-ratelimit-remaining": "0"}, {"message": "Not Found"}, None),
        (500, {"Retry-After": "5"}, None, None),
    ],
)
def test_rate_limit_is_decided_by_status_and_headers(
    status: int, headers: dict[str, str], body: dict[str, str] | None, words: str | None
) -> None:
    found = rate_limit(GithubException(status, body, headers))
    assert (found is None) if words is None else (found is not None and words in found)
    if words is not None:
        mapped = translate(GithubException(status, body, headers), "x", TOKEN)
        assert isinstance(mapped, ForgeUnavailable)


def test_access_denied_names_the_repository_and_the_permission() -> None:
    hidden = GithubException(404, {"message": "Not Found"}, {})
    assert access_denied(hidden, "o/r", repo_hidden=False) is None
    text = access_denied(hidden, "o/r", repo_hidden=True) or ""
    assert "cannot see o/r" in text and "check the token's access to the repository" in text
    refused = GithubException(
        403,
        {"message": "Resource not accessible by personal access token"},
        {"X-Accepted-GitHub-Permissions": "pull_requests=write"},
    )
    text = access_denied(refused, "o/r", repo_hidden=False) or ""
    assert "GitHub wants pull_requests=write" in text
    mapped = translate(refused, "creating a pull request", TOKEN, repo="o/r")
    assert isinstance(mapped, ForgeUnavailable)
    assert "Resource not accessible by personal access token" in str(mapped)


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (
            BadCredentialsException(401, {"message": "Bad credentials"}, {}),
            ForgeUnavailable,
            "check GITHUB_TOKEN",
        ),
        (GithubException(502, {"message": "Server Error"}, {}), ForgeUnavailable, "502"),
        (GithubException(503, None, {}), ForgeUnavailable, "no message"),
        (GithubException(422, DUPLICATE, {}), ForgeRejected, "already exists"),
        (UnknownObjectException(404, {"message": "Not Found"}, {}), ForgeRejected, "Not Found"),
        (
            GithubException(403, {"message": "Resource not accessible by integration"}, {}),
            ForgeUnavailable,
            "check the token's access to the repository",
        ),
        (GithubException(403, {"message": "Must have admin rights"}, {}), ForgeRejected, "403"),
        (requests.exceptions.ConnectionError("refused"), ForgeUnavailable, "cannot reach"),
        (requests.exceptions.ReadTimeout("slow"), ForgeUnavailable, "ReadTimeout"),
        (requests.exceptions.RetryError("too many"), ForgeUnavailable, "RetryError"),
    ],
)
def test_translation_table(exc: Exception, kind: type[Exception], words: str) -> None:
    mapped = translate(exc, "doing it", TOKEN)
    assert isinstance(mapped, kind)
    assert words in str(mapped)


def test_token_never_survives_translation() -> None:
    exc = requests.exceptions.ConnectionError(f"https://x:{TOKEN}@h/ token={TOKEN}")
    body: dict[str, Any] = {"message": f"echo {TOKEN}"}
    for error in (exc, GithubException(500, body, {}), GithubException(401, body, {})):
        assert TOKEN not in str(translate(error, "x", TOKEN))


def test_unforeseen_exceptions_fail_closed() -> None:
    mapped = translate(AssertionError("other.host"), "listing", TOKEN)
    assert isinstance(mapped, ForgeUnavailable)
    assert "unexpected AssertionError while listing: other.host" in str(mapped)


def test_changed_paths_lists_both_sides_of_renames_once() -> None:
    files = [
        {"filename": "a", "status": "added"},
        {"filename": "c", "status": "renamed", "previous_filename": "b"},
        {"filename": "a", "status": "modified"},
    ]
    assert changed_paths(files) == ["a", "b", "c"]


def test_duplicate_detection_and_messages() -> None:
    assert is_duplicate_pull(GithubException(422, DUPLICATE, {}))
    other = {
        "message": "Validation Failed",
        "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
    }
    assert not is_duplicate_pull(GithubException(422, other, {}))
    assert not is_duplicate_pull(ValueError("A pull request already exists"))
    assert error_messages(GithubException(422, other, {})) == ["Validation Failed", "head invalid"]


def _pull(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "number": 7,
        "html_url": "https://github.com/o/r/pull/7",
        "url": "api",
        "title": "T",
        "state": "open",
        "merged_at": None,
        "head": {"ref": "agent/backlog-propose-attempt-fix-docs-0a1b2c3d"},
        "base": {"ref": "main"},
    }
    data.update(over)
    return data


@pytest.mark.parametrize(
    ("over", "state"),
    [
        ({}, "open"),
        ({"state": "closed"}, "closed"),
        ({"state": "closed", "merged_at": "2024-01-01T00:00:00Z"}, "merged"),
        ({"state": "closed", "merged": True}, "merged"),
    ],
)
def test_pr_state(over: dict[str, Any], state: str) -> None:
    assert pr_state(_pull(**over)) == state


def test_pull_info_maps_attempt_and_task_from_the_branch() -> None:
    info = pull_info(_pull())
    assert (info.number, info.url, info.base) == (7, "https://github.com/o/r/pull/7", "main")
    assert info.attempt_id == "attempt-fix-docs-0a1b2c3d"
    assert info.task_id == "fix-docs"
    assert pull_info(_pull(head={"ref": "feature/x"})).task_id is None


def test_transport_retry_never_retries_writes_or_rate_limits() -> None:
    retry = transport_retry(2)
    assert retry.is_retry("GET", 502)
    assert not retry.is_retry("POST", 502)
    assert not retry.is_retry("GET", 403)
    assert not retry.respect_retry_after_header
