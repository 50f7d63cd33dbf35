"""The worker with a GitHub App only: installation tokens for the API and for git over HTTP.

Neither the fake nor the git server knows a personal access token: the fake
checks the App's JWT and mints hour-long installation tokens, and both accept
only those while they live. The attempt's credentials come from the process
settings (``GITHUB_APP_ID``, the key in a mounted file, the installation id),
through ``GitCredentials.for_target``, as the worker's entry point builds them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from tests.support.control_plane import ControlPlane, control_plane  # noqa: F401
from tests.support.git_http import GitHttpServer
from tests.support.github_app_fake import AppAuthority, key_pair
from tests.support.github_fake import GitHubFake
from tests.support.servers import UvicornThread
from tests.support.worker_harness import SEED_EVENTS, TASK, ForgeHook, WorkerHarness, attempt_id_for

from leviathan_adapters.forge.github_app import GitHubAppForge, InstallationTokens
from leviathan_adapters.github_credentials import GitCredentials
from leviathan_core.config import AutonomyConfig
from leviathan_core.github_auth import GitHubApp
from leviathan_core.settings import Settings

APP_ID = 90210
INSTALLATION = 31337
REPO = "acme/target"


@dataclass
class AppWorld:
    harness: WorkerHarness
    fake: GitHubFake
    authority: AppAuthority
    git_server: GitHttpServer
    repo_url: str
    api_url: str
    key_file: Path

    def config(self, **overrides: Any) -> AutonomyConfig:
        return self.harness.config(
            forge="github", target_repo_url=self.repo_url, github_api_url=self.api_url,
            **overrides,
        )  # fmt: skip

    def settings(self, monkeypatch: pytest.MonkeyPatch) -> Settings:
        monkeypatch.delenv("GITHUB_TOKEN", raising=False)
        monkeypatch.setenv("GITHUB_APP_ID", str(APP_ID))
        monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY_FILE", str(self.key_file))
        monkeypatch.setenv("GITHUB_APP_INSTALLATION_ID", str(INSTALLATION))
        return Settings()

    def run(self, attempt: str, credentials: GitCredentials, **kwargs: Any) -> tuple[int, str]:
        assert credentials.app is not None
        forge = kwargs.pop("forge", None) or GitHubAppForge(
            REPO, credentials.app, api_url=self.api_url
        )
        return self.harness.run(
            attempt, config=kwargs.pop("config", None) or self.config(), forge=forge,
            token_required=True, git_credentials=credentials, **kwargs,
        )  # fmt: skip

    def leaks(self, text: str, credentials: GitCredentials) -> list[str]:
        key_lines = [line for line in key_pair()[0].splitlines() if "-----" not in line]
        found = [t for t in credentials.secrets() if t in text]
        return found + [line for line in key_lines if line in text]


@pytest.fixture
def world(tmp_path: Path, control_plane: ControlPlane) -> Iterator[AppWorld]:  # noqa: F811
    root = tmp_path / "git-root"
    harness = WorkerHarness(tmp_path, control_plane, repo_parent=root / "acme")
    fake = GitHubFake()  # no personal access token at all
    fake.git_root = root  # learns the pushed branch's files, as GitHub does
    fake.add_repo(REPO)
    authority = AppAuthority(APP_ID, key_pair()[1])
    authority.install(INSTALLATION, REPO)
    fake.use_app(authority)
    git_server = GitHttpServer(root, accept=authority.accepts)
    key_file = tmp_path / "secret" / "private-key.pem"
    key_file.parent.mkdir()
    key_file.write_text(key_pair()[0], encoding="utf-8")
    with UvicornThread(fake.app) as api, UvicornThread(git_server.app) as http:
        yield AppWorld(harness, fake, authority, git_server, f"{http.url}/acme/target.git",
                       api.url, key_file)  # fmt: skip


def test_an_attempt_completes_with_installation_tokens_only(
    world: AppWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")  # PyGithub logs each answer at DEBUG
    attempt = attempt_id_for(TASK)
    config = world.config()
    credentials = GitCredentials.for_target(config, world.settings(monkeypatch))

    code, output = world.run(attempt, credentials, config=config)

    assert code == 0, output
    assert world.harness.event_types(attempt) == SEED_EVENTS
    [pull] = world.fake.pulls[REPO]
    assert f"✓ PR created: {world.api_url}/acme/target/pull/{pull.number}" in output
    assert credentials.app is not None
    tokens = credentials.app.issued
    assert len(tokens) == 1 and tokens[0].startswith("ghs_")
    # git over HTTP (clone and push) and every API call carried the installation token
    assert world.git_server.auth_seen and all(world.git_server.auth_seen)
    api = [r for r in world.fake.requests if not r.path.endswith("/access_tokens")]
    assert api and all(r.status < 400 for r in api)
    timeline = json.dumps(world.harness.timeline(attempt))
    assert "/access_tokens" in caplog.text  # the mint was logged, its answer withheld
    for text in (output, timeline, pull.body or "", caplog.text):
        assert world.leaks(text, credentials) == []
    for path in world.harness.tmp.rglob("*"):
        if path.is_file() and path != world.key_file:
            assert world.leaks(path.read_bytes().decode(errors="replace"), credentials) == []


def test_a_token_that_expires_during_the_attempt_is_renewed_for_the_push(
    world: AppWorld,
) -> None:
    """The clone's token runs out before the push; the push and the PR use a new one."""
    offset = timedelta()

    def now() -> datetime:
        return datetime.now(UTC) + offset

    app = GitHubApp(APP_ID, SecretStr(key_pair()[0]), INSTALLATION)
    tokens = InstallationTokens(app, api_url=world.api_url, now=now)
    credentials = GitCredentials(None, tokens)

    def an_hour_later() -> None:
        nonlocal offset
        world.authority.advance(3700)
        offset += timedelta(seconds=3700)

    forge = ForgeHook(
        GitHubAppForge(REPO, tokens, api_url=world.api_url),
        open_agent_prs=[an_hour_later],
    )
    code, output = world.run(attempt_id_for(TASK), credentials, forge=forge)

    assert code == 0, output
    first, second = tokens.issued
    assert world.authority.state(first) == "expired"
    git_headers = world.git_server.auth_seen
    assert any(second in _password(h) for h in git_headers[-2:])  # the push
    assert any(first in _password(h) for h in git_headers[:2])  # the clone
    assert all(r.status < 400 for r in world.fake.requests)
    assert world.fake.pulls[REPO][0].state == "open"


def test_a_wrong_key_fails_the_attempt_with_a_clear_reason(world: AppWorld) -> None:
    wrong = GitHubApp(APP_ID, SecretStr(key_pair("stranger")[0]), INSTALLATION)
    tokens = InstallationTokens(wrong, api_url=world.api_url)
    code, output = world.run(attempt_id_for(TASK), GitCredentials(None, tokens))

    assert code == 1
    last = output.strip().splitlines()[-1]
    assert last.startswith(
        "✗ Attempt failed: forge_error: no GitHub App token: GitHub answered 401"
    )
    assert "check GITHUB_APP_ID and that the private key is the App's" in last
    assert "Traceback" not in output
    assert key_pair("stranger")[0].splitlines()[1] not in output
    assert world.fake.pulls[REPO] == []


def test_the_worker_refuses_to_start_with_half_an_app(world: AppWorld) -> None:
    attempt = attempt_id_for(TASK)
    path = world.harness.write_config(forge="github", target_repo_url=world.repo_url,
                                      github_api_url=world.api_url)  # fmt: skip
    done = world.harness.run_cli(attempt, config_path=path, env={"GITHUB_APP_ID": str(APP_ID)})
    assert done.returncode == 2
    assert "GITHUB_APP_ID is set but the App's private key is not" in done.stdout
    assert "GITHUB_APP_PRIVATE_KEY_FILE" in done.stdout


def test_a_token_and_an_app_at_once_refuse_the_start_without_printing_either(
    world: AppWorld,
) -> None:
    path = world.harness.write_config(forge="github", target_repo_url=world.repo_url,
                                      github_api_url=world.api_url)  # fmt: skip
    key = key_pair()[0]
    done = world.harness.run_cli(
        attempt_id_for(TASK), config_path=path,
        env={"GITHUB_TOKEN": "ghp_should_not_print", "GITHUB_APP_ID": str(APP_ID),
             "GITHUB_APP_PRIVATE_KEY": key},
    )  # fmt: skip
    assert done.returncode == 2
    text = done.stdout + done.stderr
    assert "both GITHUB_TOKEN and GITHUB_APP_ID are set" in text
    assert "ghp_should_not_print" not in text
    assert key.splitlines()[1] not in text


def _password(header: str | None) -> str:
    import base64

    if not header or not header.startswith("Basic "):
        return ""
    return base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")[2]


def test_an_app_without_write_access_is_forge_error_naming_the_permission(
    world: AppWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.fake.set_access(REPO, "read")
    config = world.config()
    credentials = GitCredentials.for_target(config, world.settings(monkeypatch))

    code, output = world.run(attempt_id_for(TASK), credentials, config=config)

    assert code == 1
    last = output.strip().splitlines()[-1]
    assert last.startswith("✗ Attempt failed: forge_error: ")
    assert "Resource not accessible by integration" in last
    assert world.leaks(output, credentials) == []
