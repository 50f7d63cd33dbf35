"""The installed ``leviathan`` command: check-backlog and plan on given facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples/backlog.yaml"
LEVIATHAN = str(Path(sys.executable).parent / "leviathan")


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIATHAN_")}
    return subprocess.run(
        [LEVIATHAN, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def test_plan_prints_the_seed_selection_block() -> None:
    result = run("plan", "--backlog", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for expected in (
        "Open PRs: 0/1",
        "Backlog tasks: 5",
        "→ Selected task: update-readme-links",
        "  Attempt number: 1/2",
        "  Title: Fix broken links in README",
    ):
        assert expected in lines


def test_plan_json_with_facts() -> None:
    result = run("plan", "--backlog", str(EXAMPLE), "--attempts", "update-readme-links=1", "--json")
    payload = json.loads(result.stdout)
    assert payload["action"] == "dispatch"
    assert payload["attempt_number"] == 2
    assert {t["id"]: t["reasons"] for t in payload["tasks"]} == {
        "update-readme-links": [],
        "write-architecture-notes": ["not_ready"],
        "refactor-core": ["path_out_of_scope"],
        "document-api": ["has_dependencies"],
        "changelog": ["not_ready"],
    }


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--open-prs", "1"], "max_open_prs"),
        (["--running", "1"], "max_running_attempts"),
        (["--failures", "2"], "breaker_open"),
        (["--paused"], "paused"),
        (["--attempts", "update-readme-links=2"], "no_eligible_task"),
    ],
)
def test_plan_skip_reasons(args: list[str], reason: str) -> None:
    result = run("plan", "--backlog", str(EXAMPLE), *args, "--json")
    assert result.returncode == 0
    payload = json.loads(result.stdout)
    assert (payload["action"], payload["reason"], payload["task_id"]) == ("skip", reason, None)
    human = run("plan", "--backlog", str(EXAMPLE), *args)
    assert f"✗ No task selected: {reason}" in human.stdout


def test_plan_on_broken_backlog_is_a_decision(tmp_path: Path) -> None:
    bad = tmp_path / "backlog.yaml"
    bad.write_text("tasks: [\n")
    result = run("plan", "--backlog", str(bad), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["reason"] == "backlog_invalid"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["plan", "--backlog", "/no/such/file"], "cannot read backlog"),
        (["plan", "--backlog", "examples/backlog.yaml", "--attempts", "x"], "TASK=N"),
        (
            ["plan", "--backlog", "examples/backlog.yaml", "--config", "/no/cfg.yaml"],
            "cannot read configuration",
        ),
        (["plan"], "--backlog PATH"),
        (["plan", "--backlog", "examples/backlog.yaml", "--target", "nope"], "no target 'nope'"),
    ],
)
def test_bad_input_exits_2_without_traceback(args: list[str], fragment: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_check_backlog_valid_and_invalid(tmp_path: Path) -> None:
    ok = run("check-backlog", str(EXAMPLE))
    assert ok.returncode == 0
    assert "5 tasks" in ok.stdout
    assert "refactor-core: path_out_of_scope" in ok.stdout
    bad = tmp_path / "b.yaml"
    bad.write_text(
        "tasks:\n  - id: a\n    title: A\n  - id: b\n    title: B\n  - id: a\n    title: C\n"
    )
    result = run("check-backlog", str(bad))
    assert result.returncode == 2
    assert "duplicate task id 'a' at tasks[0] and tasks[2]" in result.stderr
    several = tmp_path / "d.yaml"
    several.write_text("tasks: []\n---\ntasks: []\n")
    result = run("check-backlog", str(several))
    assert result.returncode == 2
    assert "line 2, column 1: the file holds 2 YAML documents" in result.stderr
    broken = tmp_path / "c.yaml"
    broken.write_text("tasks:\n  - id: a\n   title: x\n")
    result = run("check-backlog", str(broken), "--json")
    assert result.returncode == 2
    assert "line 3" in json.loads(result.stdout)["errors"][0]


def test_check_backlog_reports_broken_task_but_stays_valid(tmp_path: Path) -> None:
    file = tmp_path / "b.yaml"
    file.write_text(
        "tasks:\n  - 7\n  - id: ok\n    title: OK\n    ready: true\n"
        "    allowed_paths: [docs/a.md]\n"
    )
    result = run("check-backlog", str(file), "--json")
    assert result.returncode == 0
    payload = json.loads(result.stdout)
    assert payload["tasks"][0]["id"] == 0
    assert payload["tasks"][0]["reasons"] == ["invalid_task"]
    assert payload["tasks"][1]["eligible"] is True
