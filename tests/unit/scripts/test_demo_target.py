"""``make run``'s demo target and settings say what the demo really does."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

from leviathan_core.backlog import parse_backlog
from leviathan_core.config import load_config
from leviathan_core.guardrails import Facts, decide

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
NUMBERS = ("no", "one", "two", "three", "four", "five")


@pytest.fixture
def devrun(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    return importlib.import_module("devrun")


def test_the_backlog_header_names_the_tasks_that_are_eligible(
    devrun: ModuleType, tmp_path: Path
) -> None:
    demo = sys.modules["demo_target"]
    config = load_config(devrun.write_config(tmp_path, tmp_path / "origin.git", 8000))
    decision = decide(config, parse_backlog(demo.DEMO_BACKLOG), Facts())
    eligible = [str(v.name) for v in decision.tasks if v.eligible]
    comments = [line for line in demo.DEMO_BACKLOG.splitlines() if line.startswith("#")]
    header = " ".join(line.lstrip("# ") for line in comments)
    assert f"{NUMBERS[len(eligible)]} tasks are eligible" in header
    assert f"({', then '.join(eligible)})" in header
    assert f"max_open_prs {config.max_open_prs}" in header


def test_the_settings_file_holds_the_demo_tick_interval(
    devrun: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`leviathan status` from a second terminal reads the interval beat ticks at."""
    monkeypatch.setenv("LEVIATHAN_SCHEDULE_SECONDS", "7")
    settings = devrun.environment(tmp_path, tmp_path / "demo.yaml", 8000, "redis://x", "t")
    assert settings["LEVIATHAN_SCHEDULE_SECONDS"] == "7"
    assert "LEVIATHAN_SCHEDULE_SECONDS=7\n" in (tmp_path / "env").read_text()
    monkeypatch.delenv("LEVIATHAN_SCHEDULE_SECONDS")
    default = devrun.environment(tmp_path, tmp_path / "demo.yaml", 8000, "redis://x", "t")
    assert default["LEVIATHAN_SCHEDULE_SECONDS"] == "20"
