"""AutonomyConfig: the seed's file loads unchanged; bad values name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from leviathan_adapters.process_settings import load_process_settings, run_env_file
from leviathan_core.config import ConfigError, load_config, load_configs
from leviathan_core.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SEED = (ROOT / "ops/autonomy/dev.yaml").read_text()


def test_seed_file_loads_unchanged() -> None:
    config = load_config(ROOT / "ops/autonomy/dev.yaml")
    assert config.target_id == "radix"
    assert config.allowed_path_prefixes == [".leviathan/", "docs/"]
    assert (config.max_open_prs, config.max_running_attempts) == (1, 1)
    assert (config.max_attempts_per_task, config.circuit_breaker_failures) == (2, 2)
    assert config.schedule_cron == "*/5 * * * *"
    assert config.autonomy_enabled is True
    assert config.allow_completed_dependencies is False
    assert config.github_repo == "leviathan-dev/radix"


@pytest.mark.parametrize(
    ("replace", "key", "fragment"),
    [
        ("max_open_prs: 1", "max_open_prs", "greater than or equal to 0"),
        ("target_id: radix", "target_id", "DNS-safe"),
        ('schedule_cron: "*/5 * * * *"', "schedule_cron", "cron"),
        ("max_attempts_per_task: 2", "max_attempts_per_task", "integer"),
        ("target_branch: main", "nonsense_key", "unknown key"),
        ("max_open_prs: 1", "autonomy_enabled", "boolean"),
        ("max_open_prs: 1", "allowed_path_prefixes", "'..' segments"),
        ("max_open_prs: 1", "executor", "'kubernetes' or 'local'"),
        ("control_plane_url: http://leviathan-control-plane:8000", "control_plane_url", "http://"),
        ("max_open_prs: 1", "breaker_probe_after_seconds", "greater than or equal to 1"),
    ],
)
def test_bad_values_name_file_and_key(
    tmp_path: Path, replace: str, key: str, fragment: str
) -> None:
    bad = {
        "max_open_prs": "max_open_prs: -1",
        "target_id": "target_id: Radix_Prod",
        "schedule_cron": 'schedule_cron: "every five minutes"',
        "max_attempts_per_task": 'max_attempts_per_task: "2"',
        "nonsense_key": "target_branch: main\nnonsense_key: 1",
        "autonomy_enabled": "max_open_prs: 1\nautonomy_enabled: 'no'",
        "allowed_path_prefixes": "max_open_prs: 1\nallowed_path_prefixes: [../etc]",
        "executor": "max_open_prs: 1\nexecutor: docker",
        "control_plane_url": "control_plane_url: ftp://x",
        "breaker_probe_after_seconds": "max_open_prs: 1\nbreaker_probe_after_seconds: 0",
    }[key]
    text = (
        SEED.replace("allowed_path_prefixes:\n  - .leviathan/\n  - docs/\n", "")
        if (key == "allowed_path_prefixes")
        else SEED
    )
    file = tmp_path / "t.yaml"
    file.write_text(text.replace(replace, bad, 1))
    with pytest.raises(ConfigError) as info:
        load_config(file)
    message = str(info.value)
    assert str(file) in message
    assert f"key '{key}" in message
    assert fragment in message


def test_yaml_error_names_line(tmp_path: Path) -> None:
    file = tmp_path / "t.yaml"
    file.write_text("target_id: [\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+"):
        load_config(file)


def test_directory_of_targets_and_duplicate_ids(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SEED)
    (tmp_path / "b.yaml").write_text(SEED.replace("target_id: radix", "target_id: other"))
    assert sorted(load_configs(tmp_path)) == ["other", "radix"]
    (tmp_path / "c.yaml").write_text(SEED)
    with pytest.raises(ConfigError, match="defined twice"):
        load_configs(tmp_path)


def test_empty_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \*\.yaml"):
        load_configs(tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_settings_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEVIATHAN_CONTROL_PLANE_TOKEN", "s3cret-token")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    settings = Settings()
    assert settings.control_plane_token is not None
    assert settings.control_plane_token.get_secret_value() == "s3cret-token"
    assert settings.github_token is not None
    assert "s3cret-token" not in repr(settings) and "ghp_secret" not in str(settings)


def test_the_run_settings_are_found_from_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEVIATHAN_RUN_DIR", raising=False)
    monkeypatch.delenv("LEVIATHAN_REDIS_URL", raising=False)
    (tmp_path / ".leviathan-run").mkdir()
    (tmp_path / ".leviathan-run/env").write_text("LEVIATHAN_REDIS_URL=redis://127.0.0.1:4242/0\n")
    deep = tmp_path / "docs/guides"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert run_env_file() == tmp_path / ".leviathan-run/env"
    assert load_process_settings().broker_url() == "redis://127.0.0.1:4242/0"
    assert "redis_url" not in Settings().model_fields_set  # the model alone reads no file
    monkeypatch.setenv("LEVIATHAN_REDIS_URL", "redis://elsewhere:6379/1")  # the environment wins
    assert load_process_settings().broker_url() == "redis://elsewhere:6379/1"


def test_the_run_dir_variable_names_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEVIATHAN_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.chdir(tmp_path)
    assert run_env_file() == tmp_path / "run/env"


def test_a_celery_app_gets_no_silent_localhost_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEVIATHAN_RUN_DIR", raising=False)
    monkeypatch.delenv("LEVIATHAN_REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.redis_url == "redis://127.0.0.1:6379/0"  # status may still report it down
    with pytest.raises(ConfigError, match="no broker configured: set LEVIATHAN_REDIS_URL"):
        settings.broker_url()


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("agent_api_key_secret", "Leviathan_Agent", "not a Secret name"),
        ("agent_api_key_secret", "a" * 254, "not a Secret name"),
        ("agent_api_key_secret", "-agent", "not a Secret name"),
        ("agent_api_key_secret_key", "api key", "not a key of a Secret"),
        ("agent_api_key_secret_key", "..", "not a key of a Secret"),
        ("agent_api_key_env", "GITHUB_TOKEN", "one of the worker's own variables"),
        ("agent_api_key_env", "LEVIATHAN_CONTROL_PLANE_TOKEN", "one of the worker's own"),
        ("agent_api_key_env", "HOME", "one of the worker's own variables"),
    ],
)
def test_the_agent_key_names_are_checked(
    tmp_path: Path, key: str, value: str, fragment: str
) -> None:
    file = tmp_path / "t.yaml"
    file.write_text(SEED + f"{key}: {value!r}\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert f"key '{key}'" in str(info.value) and fragment in str(info.value)


def test_the_agent_key_secret_has_defaults_and_takes_kubernetes_names(tmp_path: Path) -> None:
    config = load_config("ops/autonomy/dev.yaml")
    assert (config.agent_api_key_secret, config.agent_api_key_secret_key) == (
        "leviathan-agent", "api-key",
    )  # fmt: skip
    file = tmp_path / "t.yaml"
    file.write_text(SEED + "agent_api_key_secret: models.team-a\nagent_api_key_secret_key: KEY\n")
    assert load_config(file).agent_api_key_secret_key == "KEY"
