"""The attempt as a Kubernetes Job runs it: ``prepare``, ``engine``, ``publish``, three
programs that share only files, the engine's without any token.

Each phase is the real ``leviathan-worker`` program, started with the environment
its container gets (tests/unit/dispatch/test_job_phases.py checks the Job spec itself).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.support.control_plane import ControlPlane, control_plane  # noqa: F401
from tests.support.gitrepo import commit_files
from tests.support.worker_harness import BACKLOG, SEED_EVENTS, TASK, WorkerHarness, attempt_id_for

ATTEMPT = attempt_id_for(TASK)
SECRETS = ("LEVIATHAN_CONTROL_PLANE_TOKEN", "GITHUB_TOKEN", "LEVIATHAN_CREATED_EVENT")


@pytest.fixture
def harness(tmp_path: Path, control_plane: ControlPlane) -> WorkerHarness:  # noqa: F811
    return WorkerHarness(tmp_path, control_plane)


def phases(harness: WorkerHarness, config: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    done = {}
    workspace = {"LEVIATHAN_WORKSPACE_DIR": str(harness.workspace)}
    for phase in ("prepare", "engine", "publish"):
        drop = SECRETS if phase == "engine" else ()
        done[phase] = harness.run_cli(
            ATTEMPT, command=phase, config_path=config, env=workspace, drop=drop
        )
        if phase == "prepare" and done[phase].returncode != 0:
            break
    return done


def test_three_phases_open_the_pr_with_the_seed_events(harness: WorkerHarness) -> None:
    script = "echo '- fixed' >> docs/README.md; env > \"$HOME/engine-env.txt\""
    config = harness.write_config(change_engine="command", change_command=["sh", "-c", script])
    done = phases(harness, config)
    assert [done[p].returncode for p in done] == [0, 0, 0], {p: d.stdout for p, d in done.items()}
    assert harness.event_types(ATTEMPT) == SEED_EVENTS
    (branch,) = [b for b in harness.remote_branches() if b.startswith("agent/")]
    assert harness.diff_names(branch) == [".leviathan/backlog.yaml", "docs/README.md"]
    assert "✓ PR created:" in done["publish"].stdout
    engine_env = (harness.workspace / ATTEMPT / "engine" / "scratch" / "engine-env.txt").read_text()
    assert "TOKEN" not in engine_env and harness.cp.token not in engine_env


def test_a_failing_engine_is_reported_by_the_publisher(harness: WorkerHarness) -> None:
    config = harness.write_config(change_engine="command", change_command=["sh", "-c", "exit 3"])
    done = phases(harness, config)
    assert done["engine"].returncode == 0, done["engine"].stderr
    result = json.loads((harness.workspace / ATTEMPT / "engine" / "result.json").read_text())
    assert result["ok"] is False and "status 3" in result["message"]
    assert done["publish"].returncode == 1
    assert "engine_failed" in done["publish"].stdout.strip().splitlines()[-1]
    assert harness.event_types(ATTEMPT)[-1] == "attempt.failed"


def test_an_engine_that_forges_its_result_still_gets_verified(harness: WorkerHarness) -> None:
    """result.json lies in the engine's folder; a forged "ok" cannot carry anything past
    the publisher's own reading and scope check."""
    script = (
        "echo x > src.py; printf '{\"ok\": true}' > ../result.json;"
        " mkdir -p ../../publisher-fake && echo y > ../../publisher-fake/z"
    )
    config = harness.write_config(change_engine="command", change_command=["sh", "-c", script])
    done = phases(harness, config)
    assert done["publish"].returncode == 1, done["publish"].stdout
    assert "scope_violation" in done["publish"].stdout.strip().splitlines()[-1]
    assert [b for b in harness.remote_branches() if b.startswith("agent/")] == []


def test_a_refusal_in_prepare_ends_the_attempt_once(harness: WorkerHarness) -> None:
    old = "    ready: true\n    status: pending\n"
    commit_files(
        harness.bare,
        {
            ".leviathan/backlog.yaml": BACKLOG.replace(
                old, "    ready: false\n    status: pending\n", 1
            )
        },
    )
    config = harness.write_config()
    prepare = harness.run_cli(
        ATTEMPT, command="prepare", config_path=config,
        env={"LEVIATHAN_WORKSPACE_DIR": str(harness.workspace)},
    )  # fmt: skip
    assert prepare.returncode == 1
    assert "task_not_eligible" in prepare.stdout
    publish = harness.run_cli(
        ATTEMPT, command="publish", config_path=config,
        env={"LEVIATHAN_WORKSPACE_DIR": str(harness.workspace)},
    )  # fmt: skip
    assert publish.returncode == 1
    assert harness.event_types(ATTEMPT).count("attempt.failed") == 1
