"""A GitHub App reaches the worker the way the token does: by reference, publisher only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from leviathan_core.config import AutonomyConfig
from leviathan_core.settings import Settings
from leviathan_dispatch.executors.factory import local_worker_environment
from tests.unit.dispatch.test_job_spec import all_containers, env_of, job_document

APP_REFS = {
    "GITHUB_APP_ID": "github-app-id",
    "GITHUB_APP_INSTALLATION_ID": "github-app-installation-id",
    "GITHUB_APP_PRIVATE_KEY": "github-app-private-key",
}


def test_the_publisher_phases_get_the_app_by_optional_secret_key_ref(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----never-here")
    document = job_document()
    for phase in ("prepare", "publish"):
        env = env_of(document, phase)
        for name, key in APP_REFS.items():
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "leviathan-secrets", "key": key, "optional": True}
    engine = env_of(document, "engine")
    assert not set(APP_REFS) & set(engine)
    assert "never-here" not in json.dumps(document)
    assert len(all_containers(document)) == 3


def test_a_local_worker_gets_the_dispatchers_app(tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text("-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n")
    config = AutonomyConfig.model_validate(
        {"target_id": "demo", "target_repo_url": "https://github.com/acme/site"}
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, config=str(tmp_path), GITHUB_APP_ID=3,
        GITHUB_APP_PRIVATE_KEY_FILE="key.pem", GITHUB_APP_INSTALLATION_ID=8,
    )  # fmt: skip
    env = local_worker_environment(config, settings)
    assert env["GITHUB_APP_ID"] == "3"
    assert env["GITHUB_APP_INSTALLATION_ID"] == "8"
    assert env["GITHUB_APP_PRIVATE_KEY_FILE"] == str(Path("key.pem").resolve())
    assert "GITHUB_TOKEN" not in env and "GITHUB_APP_PRIVATE_KEY" not in env
    inline = Settings(  # type: ignore[call-arg]
        _env_file=None, config=str(tmp_path), GITHUB_APP_ID=3,
        GITHUB_APP_PRIVATE_KEY=SecretStr("-----BEGIN RSA PRIVATE KEY-----\nk"),
    )  # fmt: skip
    assert local_worker_environment(config, inline)["GITHUB_APP_PRIVATE_KEY"].endswith("\nk")
