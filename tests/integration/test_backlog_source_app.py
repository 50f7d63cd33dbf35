"""The scheduler's backlog fetch and forge with a GitHub App: one token cache per process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from tests.support.git_http import GitHttpServer
from tests.support.github_app_fake import AppAuthority, key_pair
from tests.support.github_fake import GitHubFake
from tests.support.gitrepo import make_target_repo
from tests.support.servers import UvicornThread

from leviathan_adapters.backlog_source import BacklogSource, BacklogUnavailable
from leviathan_adapters.forge.factory import make_forge
from leviathan_adapters.forge.github_app import GitHubAppForge
from leviathan_core.config import AutonomyConfig
from leviathan_core.settings import Settings

BACKLOG = "tasks:\n  - id: one\n    title: One\n"
APP_ID = 555
INSTALLATION = 9


@dataclass
class World:
    fake: GitHubFake
    server: GitHttpServer
    config: AutonomyConfig
    cache: Path

    def settings(self, key: str) -> Settings:
        return Settings(  # type: ignore[call-arg]
            _env_file=None, cache_dir=str(self.cache), GITHUB_APP_ID=APP_ID,
            GITHUB_APP_PRIVATE_KEY=SecretStr(key),
        )  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    make_target_repo(tmp_path / "root" / "acme", BACKLOG, {"docs/a.md": "a\n"})
    fake = GitHubFake()
    fake.add_repo("acme/target")
    authority = AppAuthority(APP_ID, key_pair()[1])
    authority.install(INSTALLATION, "acme/target")
    fake.use_app(authority)
    server = GitHttpServer(tmp_path / "root", accept=authority.accepts)
    with UvicornThread(fake.app) as api, UvicornThread(server.app) as http:
        config = AutonomyConfig.model_validate({
            "target_id": "demo", "target_repo_url": f"{http.url}/acme/target.git",
            "github_api_url": api.url,
        })  # fmt: skip
        yield World(fake, server, config, tmp_path / "cache")


def test_the_backlog_is_fetched_with_the_installation_token_the_forge_shares(
    world: World,
) -> None:
    settings = world.settings(key_pair()[0])
    source = BacklogSource(world.config, settings)
    assert source.read().data == BACKLOG.encode()
    assert source.read().changed is False
    forge = make_forge(world.config, settings)
    assert isinstance(forge, GitHubAppForge)
    assert forge.open_agent_prs() == []

    paths = [r.path for r in world.fake.requests]
    # the installation is looked up once, one token serves both fetches and the forge
    assert paths.count("/repos/acme/target/installation") == 1
    assert paths.count(f"/app/installations/{INSTALLATION}/access_tokens") == 1
    assert len(world.server.auth_seen) >= 2 and all(world.server.auth_seen)


def test_a_wrong_key_makes_the_backlog_unavailable_and_names_no_secret(world: World) -> None:
    wrong = key_pair("intruder")[0]
    with pytest.raises(BacklogUnavailable) as raised:
        BacklogSource(world.config, world.settings(wrong)).read()
    message = str(raised.value)
    assert "GitHub refused the App's signed JWT" in message
    assert wrong.splitlines()[1] not in message
    assert world.server.auth_seen == []  # git was never asked without a token
