"""git_auth: the token reaches git only through the environment, scoped to one origin."""

from __future__ import annotations

import base64
import subprocess

import pytest
from pydantic import SecretStr

from leviathan_adapters.git_auth import (
    REDACTED,
    auth_failed,
    basic_auth_header,
    git_env,
    header_scope,
    redact_url,
    scrub,
    secret_value,
)

TOKEN = "ghp_unit_token_123"


@pytest.mark.parametrize(
    ("token", "expected"),
    [(None, None), ("", None), (SecretStr(""), None), ("t", "t"), (SecretStr("t"), "t")],
)
def test_secret_value(token: SecretStr | str | None, expected: str | None) -> None:
    assert secret_value(token) == expected


@pytest.mark.parametrize(
    ("url", "scope"),
    [
        ("https://github.com/o/r.git", "https://github.com/"),
        ("HTTPS://GitHub.com/o/r", "https://github.com/"),
        ("http://127.0.0.1:8080/o/r.git", "http://127.0.0.1:8080/"),
        ("https://ghe.example.com:8443/api/o/r", "https://ghe.example.com:8443/"),
    ],
)
def test_header_scope_keeps_scheme_host_and_port(url: str, scope: str) -> None:
    assert header_scope(url) == scope


def test_https_token_becomes_a_scoped_header_in_the_environment() -> None:
    env = git_env("https://github.com/o/r.git", SecretStr(TOKEN), base_env={"PATH": "/bin"})
    assert env["GIT_CONFIG_COUNT"] == "1"
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraHeader"
    encoded = base64.b64decode(env["GIT_CONFIG_VALUE_0"].split()[-1]).decode()
    assert encoded == f"x-access-token:{TOKEN}"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["PATH"] == "/bin"


def test_existing_git_config_entries_are_kept() -> None:
    base = {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "a.b",
        "GIT_CONFIG_VALUE_0": "1",
        "GIT_CONFIG_KEY_1": "c.d",
        "GIT_CONFIG_VALUE_1": "2",
    }
    env = git_env("https://github.com/o/r", TOKEN, base_env=base)
    assert env["GIT_CONFIG_COUNT"] == "3"
    assert env["GIT_CONFIG_KEY_0"] == "a.b"
    assert env["GIT_CONFIG_KEY_2"].endswith(".extraHeader")


@pytest.mark.parametrize("url", ["file:///srv/repo.git", "/srv/repo.git"])
def test_local_urls_get_no_header(url: str) -> None:
    env = git_env(url, TOKEN, base_env={})
    assert "GIT_CONFIG_COUNT" not in env
    assert TOKEN not in "".join(env.values())


def test_no_token_means_no_header_and_curl_tracing_is_dropped() -> None:
    env = git_env("https://github.com/o/r", None, base_env={"GIT_TRACE_CURL": "1"})
    assert "GIT_CONFIG_COUNT" not in env
    assert "GIT_TRACE_CURL" not in env


def test_real_git_applies_the_header_only_to_the_same_origin() -> None:
    env = git_env("http://127.0.0.1:8080/o/r.git", TOKEN)

    def lookup(url: str) -> str:
        done = subprocess.run(
            ["git", "config", "--get-urlmatch", "http.extraheader", url],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    assert lookup("http://127.0.0.1:8080/o/r.git") == basic_auth_header(TOKEN)
    assert lookup("http://127.0.0.1:9090/o/r.git") == ""
    assert lookup("https://127.0.0.1:8080/o/r.git") == ""


def test_scrub_removes_token_header_and_url_credentials() -> None:
    header = basic_auth_header(TOKEN).split()[-1]
    text = f"fatal: {TOKEN} {header} https://user:{TOKEN}@github.com/o/r"
    cleaned = scrub(text, SecretStr(TOKEN))
    assert TOKEN not in cleaned
    assert header not in cleaned
    assert cleaned.count(REDACTED) == 3
    assert scrub("nothing here", None) == "nothing here"


def test_redact_url_keeps_host_and_path() -> None:
    assert redact_url("https://x:y@github.com/o/r.git") == "https://***@github.com/o/r.git"
    assert redact_url("file:///srv/r.git") == "file:///srv/r.git"


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
            True,
        ),
        ("remote: Invalid username or password.\nfatal: Authentication failed for 'x'", True),
        ("fatal: unable to access 'x': The requested URL returned error: 403", True),
        ("fatal: couldn't find remote ref refs/heads/main", False),
    ],
)
def test_auth_failed(stderr: str, expected: bool) -> None:
    assert auth_failed(stderr) is expected
