"""Every way an attempt can fail ends in attempt.failed with its reason code, no traceback."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import pytest
from tests.support.control_plane import (  # noqa: F401
    TEST_TOKEN,
    ControlPlane,
    control_plane,
    running_control_plane,
)
from tests.support.gitrepo import commit_files
from tests.support.servers import free_port
from tests.support.worker_harness import (
    SEED_EVENTS,
    TASK,
    Action,
    ForgeHook,
    WorkerHarness,
    attempt_id_for,
)

from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_core.events import EventType, new_event
from leviathan_worker.cli import start
from leviathan_worker.runner import AttemptArgs

OTHER_BRANCH = "agent/backlog-propose-attempt-other-task-99999999"


@pytest.fixture
def harness(tmp_path: Path, control_plane: ControlPlane) -> WorkerHarness:  # noqa: F811
    return WorkerHarness(tmp_path, control_plane)


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def failed_payload(harness: WorkerHarness, attempt: str) -> dict[str, object]:
    events = harness.timeline(attempt)["events"]
    assert events[-1]["event"]["type"] == "attempt.failed"
    payload: dict[str, object] = events[-1]["event"]["payload"]
    return payload


def open_other_pr(harness: WorkerHarness) -> None:
    """Another agent PR appears while the attempt runs (a human, or another target's run)."""
    commit_files(harness.bare, {"docs/other.md": "x\n"}, branch=OTHER_BRANCH)
    harness.local_forge().create_pull_request(
        branch=OTHER_BRANCH, base="main", title="other", body="other"
    )


@pytest.mark.parametrize("when", ["before-push", "after-push"])
def test_pr_cap_reached_during_the_attempt_opens_no_pr(harness: WorkerHarness, when: str) -> None:
    attempt = attempt_id_for(TASK)

    def act() -> None:
        open_other_pr(harness)

    hooks: list[Action] = [act] if when == "before-push" else [None, act]
    forge = ForgeHook(harness.local_forge(), open_agent_prs=hooks)

    code, output = harness.run(attempt, forge=forge)

    assert code == 1
    assert last_line(output).startswith("✗ Attempt failed: pr_cap: 1 open agent PR(s) (#1)")
    assert "create_pull_request" not in forge.calls
    assert [p.branch for p in harness.local_forge().open_agent_prs()] == [OTHER_BRANCH]
    assert harness.remote_branches() == sorted(["main", OTHER_BRANCH])
    assert failed_payload(harness, attempt)["reason"] == "pr_cap"
    if when == "after-push":
        assert "✓ Branch pushed" in output
        assert "pushed branch deleted" in last_line(output)


def test_push_rejected_by_the_remote(harness: WorkerHarness) -> None:
    hook = harness.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are frozen today' >&2\nexit 1\n")
    hook.chmod(0o755)
    attempt = attempt_id_for(TASK)

    code, output = harness.run(attempt)

    assert code == 1
    assert last_line(output).startswith("✗ Attempt failed: push_rejected: pushing agent/")
    assert "pushes are frozen today" in last_line(output)
    assert "Traceback" not in output
    assert failed_payload(harness, attempt)["reason"] == "push_rejected"
    assert harness.local_forge().open_agent_prs() == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"target_repo_url": "file:///nonexistent/leviathan/target.git"}, "does not appear"),
        ({"target_branch": "no-such-branch"}, "Remote branch no-such-branch not found"),
    ],
)
def test_clone_failure(harness: WorkerHarness, overrides: dict[str, str], expected: str) -> None:
    attempt = attempt_id_for(TASK)
    code, output = harness.run(attempt, config=harness.config(**overrides))

    assert code == 1
    assert last_line(output).startswith("✗ Attempt failed: clone_failed: cannot clone branch")
    assert expected in last_line(output)
    assert "Traceback" not in output
    assert harness.event_types(attempt) == ["attempt.created", "attempt.started", "attempt.failed"]
    assert failed_payload(harness, attempt)["reason"] == "clone_failed"


def test_unknown_task_is_task_not_found(harness: WorkerHarness) -> None:
    attempt = attempt_id_for("no-such-task")
    code, output = harness.run(attempt, task="no-such-task")
    assert code == 1
    assert last_line(output).startswith("✗ Attempt failed: task_not_found: task 'no-such-task'")


def test_missing_github_token_is_reported_by_the_cli(harness: WorkerHarness) -> None:
    config = harness.write_config(
        forge="github", target_repo_url="https://github.invalid/acme/target.git"
    )
    attempt = attempt_id_for(TASK)

    done = harness.run_cli(attempt, config_path=config)

    assert done.returncode == 1
    assert last_line(done.stdout) == (
        "✗ Attempt failed: missing_token: GITHUB_TOKEN is not set; "
        "the target's forge or https URL needs it"
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert harness.event_types(attempt) == ["attempt.created", "attempt.failed"]
    assert failed_payload(harness, attempt)["reason"] == "missing_token"


def start_in_process(
    harness: WorkerHarness, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> int:
    """``leviathan-worker run`` minus the interpreter start: same code, same environment."""
    monkeypatch.chdir(harness.tmp)
    for name in list(os.environ):
        if name.startswith(("LEVIATHAN_", "GITHUB_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = AttemptArgs(env["LEVIATHAN_TARGET"], env["LEVIATHAN_TASK"], env["LEVIATHAN_ATTEMPT"], 1)
    return start(args, env.get("LEVIATHAN_CREATED_EVENT"))


def test_missing_control_plane_token_refuses_to_start(
    harness: WorkerHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    attempt = attempt_id_for(TASK)
    env = harness.cli_env(attempt)
    del env["LEVIATHAN_CONTROL_PLANE_TOKEN"]

    assert start_in_process(harness, monkeypatch, env) == 2

    out, err = capsys.readouterr()
    assert "LEVIATHAN_CONTROL_PLANE_TOKEN is not set" in err
    assert last_line(out).startswith("✗ Attempt failed: missing_token: ")
    assert harness.remote_branches() == ["main"]


def test_bad_config_is_reported_as_config_invalid(
    harness: WorkerHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    attempt = attempt_id_for(TASK)
    env = harness.cli_env(attempt, config_path=harness.write_config(max_open_prs="many"))

    assert start_in_process(harness, monkeypatch, env) == 2

    out, err = capsys.readouterr()
    assert "key 'max_open_prs'" in err
    assert last_line(out).startswith("✗ Attempt failed: config_invalid: ")
    assert harness.event_types(attempt) == ["attempt.created", "attempt.failed"]


def test_created_event_for_another_attempt_is_refused(
    harness: WorkerHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    attempt = attempt_id_for(TASK)
    env = harness.cli_env(attempt)
    env["LEVIATHAN_ATTEMPT"] = attempt_id_for(TASK, "ffffffff")

    assert start_in_process(harness, monkeypatch, env) == 2

    out, _ = capsys.readouterr()
    assert last_line(out).startswith(
        f"✗ Attempt failed: config_invalid: LEVIATHAN_CREATED_EVENT describes attempt.created "
        f"of attempt {attempt}"
    )


def test_attempt_failed_meanwhile_opens_no_pr(harness: WorkerHarness) -> None:
    """The reconciler times the attempt out while the worker runs: the fence check stops it."""
    attempt = attempt_id_for(TASK)

    def reconciler_fails_it() -> None:
        event = new_event(
            EventType.ATTEMPT_FAILED,
            target_id="demo",
            actor="reconciler",
            attempt_id=attempt,
            task_id=TASK,
            fence=1,
            payload={"reason": "timeout", "message": "took too long"},
        )
        with ControlPlaneClient(harness.cp.url, harness.cp.token) as client:
            client.post_event(event)

    forge = ForgeHook(harness.local_forge(), open_agent_prs=[reconciler_fails_it])
    code, output = harness.run(attempt, forge=forge)

    assert code == 1
    assert last_line(output).startswith(
        f"✗ Attempt failed: fence_stale: attempt {attempt} is already failed (timeout)"
    )
    assert "pushed branch deleted" in last_line(output)
    assert harness.remote_branches() == ["main"]
    assert harness.local_forge().open_agent_prs() == []
    assert harness.timeline(attempt)["attempt"]["reason"] == "timeout"


def test_a_control_plane_outage_at_the_fence_check_is_waited_out(tmp_path: Path) -> None:
    """The control plane goes away after the push for a few seconds: the attempt still succeeds."""
    port, directory, attempt = free_port(), tmp_path / "cp", attempt_id_for(TASK)
    first_life, second_life = contextlib.ExitStack(), contextlib.ExitStack()
    harness = WorkerHarness(
        tmp_path, first_life.enter_context(running_control_plane(directory, port=port))
    )

    def come_back() -> None:
        time.sleep(3)  # the outage's length: the worker has to retry through it
        second_life.enter_context(running_control_plane(directory, port=port))

    back = threading.Thread(target=come_back)

    def outage() -> None:
        first_life.close()
        back.start()

    # The second cap check runs after the push, right before the second fence check.
    forge = ForgeHook(harness.local_forge(), open_agent_prs=[None, outage])
    with second_life:
        code, output = harness.run(attempt, forge=forge, fence_check_seconds=30)
        back.join()
        assert code == 0, output
        assert "! Control plane unreachable: retrying the fence check" in output
        assert harness.event_types(attempt) == SEED_EVENTS


def test_control_plane_unreachable_from_the_start_stops_before_cloning(tmp_path: Path) -> None:
    port, directory, attempt = free_port(), tmp_path / "cp", attempt_id_for(TASK)
    harness = WorkerHarness(tmp_path, ControlPlane(f"http://127.0.0.1:{port}", TEST_TOKEN))
    began = time.monotonic()
    code, output = harness.run(attempt, fence_check_seconds=2)
    assert time.monotonic() - began >= 2
    assert code == 1
    assert "Cloning" not in output
    assert last_line(output).startswith("✗ Attempt failed: control_plane_unreachable: ")
    with running_control_plane(directory, port=port) as cp:
        harness.cp = cp
        with harness.client(attempt) as client:
            assert client.flush_spool() == 3
        assert harness.event_types(attempt) == [
            "attempt.created",
            "attempt.started",
            "attempt.failed",
        ]
        assert harness.timeline(attempt)["attempt"]["reason"] == "control_plane_unreachable"
