"""Bad GitHub credentials stop a command at start: one paragraph, the variable, no secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from leviathan_adapters.process_settings import load_process_settings
from leviathan_core.config import ConfigError

REPO = Path(__file__).resolve().parents[3]
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretkeybody\n-----END RSA PRIVATE KEY-----\n"


def test_half_an_app_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_APP_ID", "12")
    with pytest.raises(ConfigError, match="GITHUB_APP_ID is set but the App's private key is not"):
        load_process_settings(tmp_path)


def test_two_credentials_are_refused_without_echoing_either(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_echo_canary")
    monkeypatch.setenv("GITHUB_APP_ID", "12")
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", KEY)
    with pytest.raises(ConfigError) as raised:
        load_process_settings(tmp_path)
    text = str(raised.value)
    assert text.startswith("bad process setting: both GITHUB_TOKEN and GITHUB_APP_ID are set")
    assert "ghp_echo_canary" not in text and "secretkeybody" not in text


@pytest.mark.parametrize("command", [["plan", "--target", "dev"], ["status"]])
def test_the_leviathan_commands_print_one_paragraph_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEVIATHAN_", "GITHUB_"))}
    env.update(GITHUB_APP_ID="12", LEVIATHAN_CONFIG=str(REPO / "ops/autonomy/dev.yaml"))
    program = Path(sys.executable).with_name("leviathan")
    done = subprocess.run(
        [str(program), *command],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "GITHUB_APP_PRIVATE_KEY_FILE" in done.stderr
