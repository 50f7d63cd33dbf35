"""Out-of-scope changes never reach the remote: the command engine runs small scripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.control_plane import ControlPlane, control_plane  # noqa: F401
from tests.support.gitrepo import git
from tests.support.worker_harness import BACKLOG, WorkerHarness, attempt_id_for

FOLDER_TASK = "docs-folder"
BACKLOG_WITH_FOLDER = (
    BACKLOG
    + """\
  - id: docs-folder
    title: Tidy the docs folder
    ready: true
    allowed_paths: [docs/]
"""
)


@pytest.fixture
def harness(tmp_path: Path, control_plane: ControlPlane) -> WorkerHarness:  # noqa: F811
    return WorkerHarness(
        tmp_path,
        control_plane,
        backlog=BACKLOG_WITH_FOLDER,
        files={"docs/README.md": "# Readme\n", "src/app.py": "print('hi')\n"},
    )


def run_script(harness: WorkerHarness, script: str, task: str, **config: object) -> tuple[int, str]:
    cfg = harness.config(change_engine="command", change_command=["sh", "-c", script], **config)
    attempt = attempt_id_for(task)
    return harness.run(attempt, task=task, config=cfg)


@pytest.mark.parametrize(
    ("script", "task", "offender"),
    [
        pytest.param(
            "mkdir -p src/docs && git mv docs/README.md src/docs/README.md",
            FOLDER_TASK,
            "src/docs/README.md",
            id="rename-leaving-scope",
        ),
        pytest.param(
            "rm docs/README.md && ln -s /etc/passwd docs/README.md",
            FOLDER_TASK,
            "docs/README.md",
            id="symlink-to-etc",
        ),
        pytest.param(
            "ln -s ../../../../etc docs/etc",
            FOLDER_TASK,
            "docs/etc",
            id="relative-symlink-out-of-repo",
        ),
        pytest.param(
            "mkdir -p docsx && echo x > docsx/evil.md",
            FOLDER_TASK,
            "docsx/evil.md",
            id="docsx-is-not-docs",
        ),
        pytest.param(
            "echo x > src/app.py && git -c user.name=a -c user.email=a@b commit -qam sneaky",
            FOLDER_TASK,
            "src/app.py",
            id="commit-by-the-command",
        ),
        pytest.param(
            "echo extra >> docs/other.md",
            "update-readme-links",
            "docs/other.md",
            id="file-not-in-allowed-paths",
        ),
        pytest.param(
            "echo evil > src/app.py && git add src/app.py && t=$(git write-tree)"
            " && c=$(git -c user.name=a -c user.email=a@b commit-tree $t -m fake)"
            " && git replace HEAD $c && echo ok >> docs/README.md",
            FOLDER_TASK,
            "src/app.py",
            id="replace-object-hides-a-change",
        ),
        pytest.param(
            "sed -i 's/Write architecture notes/Changed/' .leviathan/backlog.yaml",
            FOLDER_TASK,
            ".leviathan/backlog.yaml",
            id="other-task-backlog-entry",
        ),
    ],
)
def test_out_of_scope_change_never_reaches_the_remote(
    harness: WorkerHarness, script: str, task: str, offender: str
) -> None:
    code, output = run_script(harness, script, task)

    assert code == 1, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("✗ Attempt failed: scope_violation: "), output
    assert offender in last
    assert "Traceback" not in output
    assert harness.remote_branches() == ["main"]
    timeline = harness.timeline(attempt_id_for(task))
    assert [e["event"]["type"] for e in timeline["events"]] == [
        "attempt.created",
        "attempt.started",
        "attempt.failed",
    ]
    failed = timeline["events"][-1]["event"]["payload"]
    assert failed["reason"] == "scope_violation"
    assert offender in failed["paths"]
    assert harness.local_forge().open_agent_prs() == []


def test_in_scope_command_change_is_published_without_tokens_in_its_environment(
    harness: WorkerHarness,
) -> None:
    cfg = harness.config(
        change_engine="command",
        change_command=[
            "sh",
            "-c",
            'env > docs/README.md; cat "$LEVIATHAN_TASK_FILE" >> docs/README.md',
        ],
    )
    attempt = attempt_id_for(FOLDER_TASK)
    code, output = harness.run(
        attempt, task=FOLDER_TASK, config=cfg, github_token="ghp_worker_secret_value"
    )

    assert code == 0, output
    assert "ghp_worker_secret_value" not in output
    branch = f"agent/command-{attempt}"
    written = git("show", f"{branch}:docs/README.md", cwd=harness.bare)
    assert "LEVIATHAN_TASK_FILE=" in written
    assert '"id": "docs-folder"' in written
    assert "ghp_worker_secret_value" not in written
    assert harness.cp.token not in written
    assert "LEVIATHAN_CONTROL_PLANE" not in written
    assert harness.diff_names(branch) == [".leviathan/backlog.yaml", "docs/README.md"]


def test_command_timeout_and_git_tampering_fail_the_engine(harness: WorkerHarness) -> None:
    code, output = run_script(harness, "sleep 30", FOLDER_TASK, change_command_timeout_seconds=1)
    assert code == 1
    assert output.strip().splitlines()[-1] == (
        "✗ Attempt failed: engine_failed: the change command did not finish within 1 s"
    )

    harness2_attempt = attempt_id_for(FOLDER_TASK, "11111111")
    cfg = harness.config(
        change_engine="command", change_command=["sh", "-c", "git config core.pager evil"]
    )
    code, output = harness.run(harness2_attempt, task=FOLDER_TASK, config=cfg)
    assert code == 1
    assert "engine_failed: the change command modified .git" in output.strip().splitlines()[-1]
    assert harness.remote_branches() == ["main"]


def test_empty_change_is_no_changes(harness: WorkerHarness) -> None:
    code, output = run_script(harness, "true", FOLDER_TASK, allowed_path_prefixes=["docs/"])
    assert code == 1
    assert output.strip().splitlines()[-1].startswith("✗ Attempt failed: no_changes: ")
    assert harness.remote_branches() == ["main"]


def test_a_write_beside_the_checkout_never_lands(harness: WorkerHarness) -> None:
    """In the sandbox the write goes to a private tmpfs and vanishes; without one it is
    seen beside the tree and refused."""
    code, output = run_script(
        harness, "echo x > ../escape.txt && echo ok >> docs/README.md", FOLDER_TASK
    )
    landed = [p for p in harness.tmp.rglob("escape.txt")]
    if code == 0:
        assert landed == [], output
        assert "sandbox" in output.lower()
    else:
        last = output.strip().splitlines()[-1]
        assert last.startswith("✗ Attempt failed: scope_violation: "), output
        assert "../escape.txt" in last
