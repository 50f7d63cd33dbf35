"""make_forge: the forge each target configuration asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from leviathan_adapters.forge.factory import make_forge
from leviathan_adapters.forge.github import GitHubForge
from leviathan_adapters.forge.local import LocalForge
from leviathan_core.config import AutonomyConfig, ConfigError
from leviathan_core.settings import Settings


def _config(**over: object) -> AutonomyConfig:
    data: dict[str, object] = {"target_id": "demo", "target_repo_url": "https://github.com/o/r"}
    data.update(over)
    return AutonomyConfig.model_validate(data)


def test_factory_builds_github_forge_for_enterprise() -> None:
    config = _config(
        target_repo_url="https://ghe.example.com/team/site.git",
        github_api_url="https://ghe.example.com/api/v3/",
    )
    forge = make_forge(config, Settings(_env_file=None, github_token="t"))
    assert isinstance(forge, GitHubForge)
    assert forge.repo_full_name == "team/site"
    assert forge.api_url == "https://ghe.example.com/api/v3"


def test_factory_refuses_a_non_github_url_for_github() -> None:
    with pytest.raises(ConfigError, match="target_repo_url"):
        make_forge(_config(target_repo_url="file:///srv/x.git"), Settings(_env_file=None))


def test_factory_local_forge_store_defaults_under_data_dir(tmp_path: Path) -> None:
    config = _config(forge="local", target_repo_url="file:///srv/x.git")
    forge = make_forge(config, Settings(_env_file=None, data_dir=str(tmp_path)))
    assert isinstance(forge, LocalForge)
    assert forge.repo_path == Path("/srv/x.git")
    assert forge.store_dir == tmp_path / "forge" / "demo"
    chosen = make_forge(
        config.model_copy(update={"local_forge_dir": str(tmp_path / "f")}), Settings(_env_file=None)
    )
    assert isinstance(chosen, LocalForge)
    assert chosen.store_dir == tmp_path / "f"


def test_factory_refuses_https_for_local_forge() -> None:
    with pytest.raises(ConfigError, match="target_repo_url"):
        make_forge(_config(forge="local"), Settings(_env_file=None))
