"""The worker end to end on real parts: bare git remote, control plane under uvicorn, LocalForge."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from tests.support.control_plane import (  # noqa: F401
    ControlPlane,
    control_plane,
    running_control_plane,
)
from tests.support.gitrepo import git
from tests.support.servers import free_port
from tests.support.worker_harness import (
    SEED_EVENTS,
    TASK,
    ForgeHook,
    WorkerHarness,
    attempt_id_for,
)

SEED_LINES = [
    "Backlog Propose Worker",
    "✓ Posted attempt.created event to control plane",
    "✓ Posted attempt.started event to control plane",
    f"✓ Loaded task spec: {TASK}",
    f"✓ Marked task {TASK} completed in .leviathan/backlog.yaml",
    "✓ Branch pushed",
    "✓ PR created: ",
    "✓ Posted pr.created event to control plane",
    "✓ Posted attempt.succeeded event to control plane",
    "✅ Worker Complete",
]


@pytest.fixture
def harness(tmp_path: Path, control_plane: ControlPlane) -> WorkerHarness:  # noqa: F811
    return WorkerHarness(tmp_path, control_plane)


def assert_in_order(output: str, expected: list[str]) -> None:
    lines = output.splitlines()
    position = 0
    for wanted in expected:
        found = next((i for i in range(position, len(lines)) if wanted in lines[i]), None)
        assert found is not None, f"{wanted!r} missing (in order) from:\n{output}"
        position = found + 1


def test_happy_path_cli_prints_seed_lines_and_records_seed_events(harness: WorkerHarness) -> None:
    attempt = attempt_id_for(TASK)
    done = harness.run_cli(attempt)

    assert done.returncode == 0, done.stdout + done.stderr
    assert_in_order(done.stdout, SEED_LINES)
    assert "Traceback" not in done.stdout + done.stderr
    assert harness.event_types(attempt) == SEED_EVENTS
    timeline = harness.timeline(attempt)
    assert timeline["attempt"]["status"] == "succeeded"
    assert timeline["attempt"]["pr_number"] == 1

    branch = f"agent/backlog-propose-{attempt}"
    assert harness.remote_branches() == sorted(["main", branch])
    assert harness.diff_names(branch) == [
        ".leviathan/backlog.yaml",
        f".leviathan/proposals/{TASK}.md",
    ]
    [pr] = harness.local_forge().open_agent_prs()
    assert pr.branch == branch
    assert f"✓ PR created: {pr.url}" in done.stdout


def test_backlog_edit_touches_only_the_task_lines(harness: WorkerHarness) -> None:
    attempt = attempt_id_for(TASK)
    code, output = harness.run(attempt)
    assert code == 0, output

    branch = f"agent/backlog-propose-{attempt}"
    diff = git("diff", "-U0", f"main...{branch}", "--", ".leviathan/backlog.yaml", cwd=harness.bare)
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-    ready: true",
        "-    status: pending",
        "+    ready: false",
        "+    status: completed",
        f"+    last_attempt_id: {attempt}",
        f"+    branch: {branch}",
    ]


class Crash(BaseException):
    """Stands for the worker process dying at an exact point (not an Exception)."""


def test_retried_worker_after_success_opens_no_second_pr(harness: WorkerHarness) -> None:
    attempt = attempt_id_for(TASK)
    assert harness.run(attempt)[0] == 0

    code, output = harness.run(attempt)

    assert code == 1
    assert output.strip().splitlines()[-1] == (
        f"✗ Attempt failed: fence_stale: attempt {attempt} is already succeeded"
    )
    assert "Cloning" not in output
    assert len(harness.local_forge().open_agent_prs()) == 1
    assert harness.event_types(attempt) == SEED_EVENTS


def test_retried_worker_after_a_crash_reuses_the_pr(harness: WorkerHarness) -> None:
    """The first run dies right after opening the PR; the retry finds it, opens no other."""
    attempt = attempt_id_for(TASK)

    def die() -> None:
        raise Crash

    crashing = ForgeHook(harness.local_forge(), pull_request_files=[die])
    with pytest.raises(Crash):
        harness.run(attempt, forge=crashing)
    [first] = harness.local_forge().open_agent_prs()
    assert harness.event_types(attempt) == ["attempt.created", "attempt.started"]

    code, output = harness.run(attempt)

    assert code == 0, output
    assert "✓ attempt.started already recorded by an earlier run" in output
    [again] = harness.local_forge().open_agent_prs()
    assert again.number == first.number
    assert f"✓ PR created: {first.url}" in output
    assert harness.event_types(attempt) == SEED_EVENTS


def test_control_plane_down_during_the_attempt_spools_and_delivers_later(
    tmp_path: Path,
) -> None:
    port = free_port()
    directory = tmp_path / "cp"
    with contextlib.ExitStack() as first_life:
        cp = first_life.enter_context(running_control_plane(directory, port=port))
        harness = WorkerHarness(tmp_path, cp)
        attempt = attempt_id_for(TASK)
        forge = ForgeHook(harness.local_forge(), create_pull_request=[first_life.close])
        code, output = harness.run(attempt, forge=forge)
    assert code == 0, output
    assert "! Control plane unreachable: pr.created event spooled" in output
    assert "! Control plane unreachable: attempt.succeeded event spooled" in output
    assert "✓ PR created: " in output

    with running_control_plane(directory, port=port) as cp:
        harness.cp = cp
        assert harness.event_types(attempt) == ["attempt.created", "attempt.started"]
        with harness.client(attempt) as client:
            assert client.flush_spool() == 2
            assert client.flush_spool() == 0
        assert harness.event_types(attempt) == SEED_EVENTS
        assert harness.timeline(attempt)["attempt"]["status"] == "succeeded"
        # a retried worker re-sends nothing new and opens no second PR
        code, output = harness.run(attempt)
        assert code == 1
        assert harness.event_types(attempt) == SEED_EVENTS
        assert len(harness.local_forge().open_agent_prs()) == 1


def test_docs_template_engine_writes_the_document(harness: WorkerHarness) -> None:
    attempt = attempt_id_for(TASK)
    code, output = harness.run(attempt, config=harness.config(change_engine="docs-template"))

    assert code == 0, output
    assert "Docs Template Worker" in output
    branch = f"agent/docs-template-{attempt}"
    assert harness.diff_names(branch) == [".leviathan/backlog.yaml", "docs/README.md"]
    document = git("show", f"{branch}:docs/README.md", cwd=harness.bare)
    assert document.startswith("# Fix broken links in README")
    assert "- [ ] Every link in docs/README.md resolves" in document
