"""Operator commands' error paths, in-process: exit 2 with one line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leviathan_adapters.process_settings import process_settings
from leviathan_scheduler.cli import app


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "radix.yaml"
    path.write_text("target_id: radix\ntarget_repo_url: file:///srv/radix.git\nforge: local\n")
    return path


def invoke(*args: str) -> tuple[int, str]:
    process_settings.cache_clear()
    result = CliRunner().invoke(
        app, list(args), env={"LEVIATHAN_REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    process_settings.cache_clear()
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("duration", ["soon", "0s", "2 hours"])
def test_pause_refuses_a_bad_duration(config_file: Path, duration: str) -> None:
    code, output = invoke(
        "pause",
        "--target",
        "radix",
        "--reason",
        "x",
        "--for",
        duration,
        "--config",
        str(config_file),
    )
    assert code == 2
    assert f"--for {duration!r}" in output


def test_an_unknown_target_names_the_known_ones(config_file: Path) -> None:
    code, output = invoke("tick", "--target", "nope", "--config", str(config_file))
    assert code == 2
    assert "no target 'nope' (known: radix)" in output


def test_a_forge_that_does_not_fit_the_url_is_a_config_error(config_file: Path) -> None:
    config_file.write_text(config_file.read_text().replace("forge: local", "forge: github"))
    code, output = invoke("status", "--config", str(config_file))
    assert code == 2
    assert "key 'target_repo_url'" in output


def test_an_empty_reason_is_refused(config_file: Path) -> None:
    code, output = invoke(
        "reset-breaker", "--target", "radix", "--reason", " ", "--config", str(config_file)
    )
    assert code == 2
    assert "--reason must not be empty" in output


def test_pause_with_redis_down_exits_1(config_file: Path) -> None:
    code, output = invoke(
        "pause", "--target", "radix", "--reason", "x", "--config", str(config_file)
    )
    assert code == 1
    assert "pause: Redis unavailable" in output


def test_attempts_with_the_control_plane_down_exits_1(config_file: Path) -> None:
    config_file.write_text(config_file.read_text() + "control_plane_url: http://127.0.0.1:1\n")
    code, output = invoke("attempts", "--target", "radix", "--config", str(config_file))
    assert code == 1
    assert "attempts: control plane:" in output
