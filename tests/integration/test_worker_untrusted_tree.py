"""The publisher never trusts the engine's tree, and re-checks the task before pushing.

Real worker, real git, the command engine running small scripts. The tokens in
the worker's environment are distinctive canaries, so a leak anywhere on disk
cannot be missed. Each attack would have run code with the worker's environment
when git ran in the engine's checkout (``.git/commondir``, a ``gitdir:`` file,
hooks, filters); the publisher now reads the tree as data and commits in a clone
of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.control_plane import ControlPlane, control_plane  # noqa: F401
from tests.support.gitrepo import commit_files
from tests.support.worker_harness import BACKLOG, TASK, WorkerHarness, attempt_id_for

GITHUB_CANARY = "ghp_PUBLISHER_CANARY_0123456789abcdef"
CP_CANARY = "lvcp_PUBLISHER_CANARY_fedcba9876543210"
# A filter program that records its environment, and a git config defining it.
SPY = (
    "mkdir -p .git/evil && printf '#!/bin/sh\\nenv > \"$MARK\"\\ncat\\n' > .git/evil/spy"
    " && chmod +x .git/evil/spy"
)
FILTER = (
    "printf '[filter \"x\"]\\n\\tclean = %s\\n\\tsmudge = %s\\n'"
    ' "$PWD/.git/evil/spy" "$PWD/.git/evil/spy"'
)


@pytest.fixture
def harness(
    tmp_path: Path,
    control_plane: ControlPlane,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> WorkerHarness:
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_CANARY)
    monkeypatch.setenv("LEVIATHAN_CONTROL_PLANE_TOKEN", CP_CANARY)
    monkeypatch.setenv("MARK", str(tmp_path / "filter-ran"))
    return WorkerHarness(tmp_path, control_plane, files={"docs/README.md": "# Readme\n"})


def run_script(harness: WorkerHarness, script: str) -> tuple[int, str]:
    cfg = harness.config(change_engine="command", change_command=["sh", "-c", script])
    return harness.run(attempt_id_for(TASK), config=cfg)


def agent_branches(harness: WorkerHarness) -> list[str]:
    return [b for b in harness.remote_branches() if b.startswith("agent/")]


def leaked(root: Path) -> list[Path]:
    """Every file under ``root`` that holds a canary."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if GITHUB_CANARY.encode() in data or CP_CANARY.encode() in data:
                found.append(path)
    return found


def assert_no_git_code_ran(harness: WorkerHarness, out: str) -> None:
    assert not (harness.tmp / "filter-ran").exists(), "git ran the engine's program"
    assert leaked(harness.tmp) == []
    assert GITHUB_CANARY not in out and CP_CANARY not in out


EDIT = "echo '- a fixed link' >> docs/README.md"


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(
            f"{SPY} && {FILTER} > .git/evil/config && echo evil > .git/commondir"
            " && printf '* filter=x\\n' > docs/.gitattributes",
            id="commondir-hijack-with-filter",
        ),
        pytest.param(
            f"{SPY} && {FILTER} >> .git/config && printf '* filter=x\\n' > .git/info/attributes",
            id="config-filter-and-info-attributes",
        ),
        pytest.param(
            f"{SPY} && mkdir -p .git/hooks && for h in pre-commit post-commit pre-push"
            " reference-transaction post-checkout; do cp .git/evil/spy .git/hooks/$h; done",
            id="hooks",
        ),
        pytest.param(
            "mkdir -p ../elsewhere && mv .git ../elsewhere/git"
            " && echo 'gitdir: ../elsewhere/git' > .git",
            id="gitdir-file",
        ),
        pytest.param(
            f'{SPY} && git config core.fsmonitor "$PWD/.git/evil/spy"'
            f" && {FILTER} > .git/evil/inc && git config include.path evil/inc"
            " && printf '* filter=x\\n' > .git/info/attributes",
            id="fsmonitor-and-include",
        ),
    ],
)
def test_the_engines_git_never_runs_with_the_workers_secrets(
    harness: WorkerHarness, attack: str
) -> None:
    code, out = run_script(harness, f"{attack} ; {EDIT}")
    assert_no_git_code_ran(harness, out)
    last = harness.event_types(attempt_id_for(TASK))[-1]
    if code == 0:
        # Published from the publisher's clone: the change and nothing of the engine's .git.
        assert last == "attempt.succeeded"
        assert harness.diff_names(agent_branches(harness)[0]) == [
            ".leviathan/backlog.yaml",
            "docs/README.md",
        ]
    else:
        # Refused outright (a changed .git, or a write beside the checkout): nothing pushed.
        assert last == "attempt.failed"
        assert "engine_failed" in out or "scope_violation" in out, out
        assert agent_branches(harness) == []


def test_gitattributes_written_by_the_engine_are_published_as_data(
    harness: WorkerHarness,
) -> None:
    code, out = run_script(harness, f"printf '* filter=x\\n' > docs/.gitattributes ; {EDIT}")
    assert code == 1, out  # docs/.gitattributes is outside the task's one allowed file
    assert "scope_violation" in out and "docs/.gitattributes" in out
    assert not (harness.tmp / "filter-ran").exists()


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("    ready: true\n    status: pending\n    scope: docs\n    priority: high\n",
         "    ready: false\n    status: pending\n    scope: docs\n    priority: high\n",
         "not_ready"),
        ("    status: pending\n    scope: docs\n    priority: high\n",
         "    status: completed\n    scope: docs\n    priority: high\n",
         "status_not_pending"),
        ("    allowed_paths: [docs/README.md]\n    dependencies: []\n",
         "    allowed_paths: [src/]\n    dependencies: []\n",
         "path_out_of_scope"),
    ],
    ids=["no-longer-ready", "completed-meanwhile", "paths-moved-out-of-scope"],
)  # fmt: skip
@pytest.mark.parametrize("engine", ["backlog-propose", "command"])
def test_a_task_changed_since_selection_is_not_published(
    harness: WorkerHarness, old: str, new: str, field: str, engine: str
) -> None:
    assert old in BACKLOG
    commit_files(harness.bare, {".leviathan/backlog.yaml": BACKLOG.replace(old, new, 1)})
    extra = {"change_command": ["sh", "-c", EDIT]} if engine == "command" else {}
    cfg = harness.config(change_engine=engine, **extra)
    code, out = harness.run(attempt_id_for(TASK), config=cfg)
    assert code == 1, out
    assert "task_not_eligible" in out and field in out
    assert agent_branches(harness) == []
    failed = harness.timeline(attempt_id_for(TASK))["events"][-1]["event"]
    assert failed["payload"]["reason"] == "task_not_eligible"
    assert field in failed["payload"]["reasons"]


def test_a_command_that_changes_nothing_ends_in_no_changes(harness: WorkerHarness) -> None:
    code, out = run_script(harness, "true")
    assert code == 1, out
    assert "no_changes" in out
    assert agent_branches(harness) == []


def test_a_command_that_only_repeats_the_bookkeeping_ends_in_no_changes(
    harness: WorkerHarness,
) -> None:
    script = (
        "sed -i 's/^    ready: true$/    ready: false/; 0,/status: pending/s//status: completed/'"
        " .leviathan/backlog.yaml"
    )
    code, out = run_script(harness, script)
    assert code == 1, out
    assert "no_changes" in out or "scope_violation" in out
    assert agent_branches(harness) == []
