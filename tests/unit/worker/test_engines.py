"""Change engines on a plain directory: what each writes, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leviathan_core.backlog import parse_task
from leviathan_core.config import parse_config
from leviathan_worker.bookkeeping import bookkeeping_paths, proposal_markdown
from leviathan_worker.engines import ChangeContext, EngineError, command, make_engine
from leviathan_worker.engines.command import CommandEngine, command_environment
from leviathan_worker.engines.docs_template import DocsTemplateEngine, markdown_target
from tests.support.servers import wait_for

BACKLOG = "tasks:\n  - id: t1\n    title: Write the guide\n    ready: true\n"


def task(**fields: object):  # type: ignore[no-untyped-def]
    raw = {
        "id": "t1",
        "title": "Write the guide",
        "ready": True,
        "allowed_paths": ["docs/guide.md"],
    }
    raw.update(fields)
    return parse_task(0, raw)


def context(tmp_path: Path, lines: list[str], **task_fields: object) -> ChangeContext:
    checkout = tmp_path / "target"
    (checkout / ".leviathan").mkdir(parents=True, exist_ok=True)
    (checkout / ".git").mkdir(exist_ok=True)
    (checkout / ".leviathan" / "backlog.yaml").write_text(BACKLOG)
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return ChangeContext(
        checkout=checkout, scratch=scratch, task=task(**task_fields), task_id="t1",
        attempt_id="attempt-t1-12345678", branch="agent/x-attempt-t1-12345678",
        prefixes=[".leviathan/", "docs/"], say=lines.append, secrets=("s3cret",),
    )  # fmt: skip


def config(**overrides: object):  # type: ignore[no-untyped-def]
    return parse_config({"target_id": "demo", "target_repo_url": "/srv/t.git", **overrides}, "t")


def test_make_engine_follows_change_engine() -> None:
    assert make_engine(config()).name == "backlog-propose"
    assert make_engine(config(change_engine="docs-template")).name == "docs-template"
    engine = make_engine(config(change_engine="command", change_command=["true"]))
    assert engine.name == "command"
    with pytest.raises(EngineError, match="change_command is not set"):
        make_engine(config(change_engine="command"))


def test_backlog_propose_writes_the_proposal_and_leaves_the_backlog_alone(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    ctx = context(tmp_path, lines, acceptance_criteria=["It reads well"])
    make_engine(config()).apply(ctx)

    proposal = (ctx.checkout / ".leviathan/proposals/t1.md").read_text()
    assert proposal == proposal_markdown(ctx.task, ctx.attempt_id, ctx.branch)
    assert "- It reads well" in proposal and "`attempt-t1-12345678`" in proposal
    # Marking the task completed is the publisher's bookkeeping, not the engine's.
    assert (ctx.checkout / ".leviathan/backlog.yaml").read_text() == BACKLOG
    assert lines == ["✓ Wrote proposal for t1"]


def test_bookkeeping_only_inside_the_prefixes() -> None:
    assert bookkeeping_paths("t1", ["docs/"]) == []
    assert bookkeeping_paths("t1", [".leviathan/proposals/"]) == [".leviathan/proposals/t1.md"]


def test_bookkeeping_refuses_a_symlinked_folder(tmp_path: Path) -> None:
    ctx = context(tmp_path, [])
    (ctx.checkout / ".leviathan" / "proposals").symlink_to(tmp_path)
    with pytest.raises(EngineError, match="resolves outside the checkout"):
        make_engine(config()).apply(ctx)


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["docs/guide.md"], "docs/guide.md"),
        (["docs/", "docs/./guide.MD"], "docs/guide.MD"),
        ([], None),
        (["docs/a.md", "docs/b.md"], None),
        (["docs/"], None),
    ],
)
def test_docs_template_needs_exactly_one_markdown_path(
    paths: list[str], expected: str | None
) -> None:
    if expected is None:
        with pytest.raises(EngineError, match=r"exactly one \.md file"):
            markdown_target(task(allowed_paths=paths))
    else:
        assert markdown_target(task(allowed_paths=paths)) == expected


def test_docs_template_document_is_deterministic(tmp_path: Path) -> None:
    ctx = context(tmp_path, [], scope="docs", acceptance_criteria=["Covers setup", "Has examples"])
    DocsTemplateEngine().apply(ctx)
    first = (ctx.checkout / "docs/guide.md").read_text()
    DocsTemplateEngine().apply(
        context(
            tmp_path / "again",
            [],
            scope="docs",
            acceptance_criteria=["Covers setup", "Has examples"],
        )
    )
    assert first == (tmp_path / "again/target/docs/guide.md").read_text()
    assert first == (
        "# Write the guide\n\nScope: docs\n\n## Acceptance criteria\n\n"
        "- [ ] Covers setup\n- [ ] Has examples\n\n<!-- leviathan task: t1 -->\n"
    )


def test_command_environment_is_an_allowlist(tmp_path: Path) -> None:
    ctx = context(tmp_path, [])
    base = {
        "PATH": "/bin", "LANG": "C.UTF-8 s3cret", "HOME": "/root", "GITHUB_TOKEN": "g",
        "GH_TOKEN": "g", "LEVIATHAN_CONTROL_PLANE_TOKEN": "c", "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_VALUE_0": "Authorization: Basic eA==", "OPENAI_API_KEY": "k",
    }  # fmt: skip
    env = command_environment(base, tmp_path / "task.json", ctx, "/tmp")
    assert env == {
        "PATH": "/bin", "HOME": str(ctx.scratch), "TMPDIR": "/tmp",
        "LEVIATHAN_TASK_FILE": str(tmp_path / "task.json"), "LEVIATHAN_TASK": "t1",
        "LEVIATHAN_ATTEMPT": ctx.attempt_id, "LEVIATHAN_BRANCH": ctx.branch,
        "GIT_TERMINAL_PROMPT": "0",
    }  # fmt: skip


def test_command_gets_the_task_file_and_its_output_is_prefixed(tmp_path: Path) -> None:
    lines: list[str] = []
    ctx = context(tmp_path, lines)
    script = 'cp "$1" docs.json && echo "✓ PR created: fake"'
    CommandEngine(["sh", "-c", script, "sh", "{task_file}"], 30, allow_unsandboxed=True).apply(ctx)
    spec = json.loads((ctx.checkout / "docs.json").read_text())
    assert spec["id"] == "t1" and spec["allowed_paths"] == ["docs/guide.md"]
    assert "  │ ✓ PR created: fake" in lines
    assert not any(line.startswith("✓ PR created") for line in lines)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sh", "-c", "exit 3"], "exited with status 3"),
        (["/nonexistent/agent"], "cannot start the change command"),
        (["no-such-agent-on-path"], "cannot start the change command"),
        (["sh", "-c", "echo x >> .git/config"], "modified .git"),
    ],
)
def test_command_failures(tmp_path: Path, argv: list[str], message: str) -> None:
    with pytest.raises(EngineError, match=message):
        CommandEngine(argv, 30, allow_unsandboxed=True).apply(context(tmp_path, []))


def test_unsandboxed_command_background_children_do_not_outlive_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no sandbox can be made (and that is allowed), the process group dies."""
    monkeypatch.setattr(command, "sandbox_unavailable", lambda: "no bwrap (test)")
    lines: list[str] = []
    ctx = context(tmp_path, lines)
    CommandEngine(["sh", "-c", "sleep 60 & echo $! > pid"], 30, allow_unsandboxed=True).apply(ctx)
    assert any("WITHOUT a sandbox (no bwrap (test))" in line for line in lines)
    pid = int((ctx.checkout / "pid").read_text())
    stat = Path(f"/proc/{pid}/stat")

    def dead() -> bool:  # gone, or a zombie waiting for init to reap it
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except FileNotFoundError:
            return True

    # SIGKILL is delivered asynchronously.
    wait_for(dead, f"the engine's background child {pid} to be killed", timeout=10, interval=0.01)


def test_command_refuses_to_run_unsandboxed_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command, "sandbox_unavailable", lambda: "no bwrap (test)")
    ctx = context(tmp_path, [])
    with pytest.raises(EngineError, match=r"no bwrap \(test\).*allow_unsandboxed_engine"):
        CommandEngine(["sh", "-c", "touch ran"], 30).apply(ctx)
    assert not (ctx.checkout / "ran").exists()


def test_make_engine_passes_the_sandbox_settings() -> None:
    engine = make_engine(
        config(
            change_engine="command", change_command=["true"], allow_unsandboxed_engine=True,
            engine_network=["models.internal:8443"],
        ),
        hidden=[Path("/srv/workspace")],
    )  # fmt: skip
    assert isinstance(engine, CommandEngine)
    assert (engine.hidden, engine.network, engine.allow_unsandboxed) == (
        (Path("/srv/workspace"),), True, True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("line", "printed"),
    [
        ("plain output\twith a tab", "plain output\twith a tab"),
        ("\x1b[2K\x1b[1G✓ PR created: x", "\\x1b[2K\\x1b[1G✓ PR created: x"),
        ("\b\b\b\b✓ PR created: x", "\\x08\\x08\\x08\\x08✓ PR created: x"),
        ("a\u2028✓ PR created: x", "a\\u2028✓ PR created: x"),
        ("\u202egnp.exe", "\\u202egnp.exe"),
    ],
)
def test_command_output_cannot_pass_for_the_workers_lines(line: str, printed: str) -> None:
    assert command.shown(line) == command.OUTPUT_PREFIX + printed
