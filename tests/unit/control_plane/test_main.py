"""The entry point's refusals, the migrate command, JSON logs and the token compare."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from leviathan_control_plane.api.auth import tokens_match
from leviathan_control_plane.logs import JsonFormatter, set_request_id
from leviathan_control_plane.main import main


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name in ("LEVIATHAN_DATABASE_URL", "LEVIATHAN_CONFIG", "LEVIATHAN_CONTROL_PLANE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEVIATHAN_DATA_DIR", str(tmp_path / "data"))
    # main() points these loggers at this test's captured stderr; give them back after.
    names = ("leviathan", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {
        n: (
            logging.getLogger(n).handlers[:],
            logging.getLogger(n).propagate,
            logging.getLogger(n).level,
            logging.getLogger(n).disabled,
        )
        for n in names
    }
    yield tmp_path
    for name, (handlers, propagate, level, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate, logger.disabled = handlers, propagate, disabled
        logger.setLevel(level)


def test_refuses_to_start_without_token(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0"]) == 2
    assert "LEVIATHAN_CONTROL_PLANE_TOKEN is not set" in capsys.readouterr().err


def test_refuses_a_broken_config(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = env / "bad.yaml"
    bad.write_text("target_id: Not Valid\ntarget_repo_url: https://x/o/r\n")
    monkeypatch.setenv("LEVIATHAN_CONTROL_PLANE_TOKEN", "t")
    monkeypatch.setenv("LEVIATHAN_CONFIG", str(bad))
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "LEVIATHAN_CONFIG" in err
    assert "target_id" in err


def test_migrate_command(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert "is up to date" in capsys.readouterr().out
    assert (env / "data" / "control-plane.db").exists()


def test_json_log_lines_carry_the_request_id() -> None:
    set_request_id("req-7")
    record = logging.LogRecord("leviathan.x", logging.INFO, __file__, 1, "request", None, None)
    record.status = 201
    line = json.loads(JsonFormatter().format(record))
    assert (line["msg"], line["request_id"], line["status"], line["level"]) == (
        "request",
        "req-7",
        201,
        "INFO",
    )


@pytest.mark.parametrize(
    ("given", "expected", "same"),
    [
        ("dev-token", b"dev-token", True),
        ("dev-tokeN", b"dev-token", False),
        ("", b"dev-token", False),
        ("dév", "dév".encode(), True),
        ("\udcff", b"x", False),
    ],
)
def test_tokens_match(given: str, expected: bytes, same: bool) -> None:
    assert tokens_match(given, expected) is same
