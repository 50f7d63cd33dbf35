"""The worker's start contract: arguments, the created envelope, which tokens it needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leviathan_core.backlog import parse_task
from leviathan_core.config import parse_config
from leviathan_core.events import EventType, FailureReason, new_event
from leviathan_core.job_contract import worker_arguments
from leviathan_core.messages import DispatchMessage
from leviathan_core.settings import Settings
from leviathan_worker import cli
from leviathan_worker.cli import (
    StartRefused,
    needs_github_token,
    parse_created_event,
    spool_file,
)
from leviathan_worker.evidence import Evidence, commit_message, pr_body, pr_title
from leviathan_worker.runner import AttemptArgs, worker_title

ARGS = AttemptArgs("demo", "t1", "attempt-t1-12345678", 4)


def created(**changes: object) -> str:
    fields: dict[str, object] = {
        "target_id": "demo", "actor": "scheduler", "attempt_id": ARGS.attempt_id,
        "task_id": "t1", "fence": 4,
    }  # fmt: skip
    fields.update(changes)
    return new_event(EventType.ATTEMPT_CREATED, **fields).model_dump_json()  # type: ignore[arg-type]


def test_created_envelope_is_parsed_unchanged() -> None:
    raw = created()
    event = parse_created_event(raw, ARGS)
    assert event is not None and event.model_dump_json() == raw
    assert parse_created_event(None, ARGS) is None
    assert parse_created_event("", ARGS) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "is not a valid event"),
        ('{"type": "attempt.created"}', "is not a valid event"),
        (created(fence=3), "(fence 3), not attempt.created of attempt-t1-12345678 (fence 4)"),
        (created(attempt_id="attempt-t1-00000000"), "of attempt attempt-t1-00000000"),
        (created(task_id="t2"), "describes attempt.created"),
    ],
)
def test_created_envelope_must_describe_this_attempt(raw: str, message: str) -> None:
    with pytest.raises(StartRefused, match=message.replace("(", r"\(").replace(")", r"\)")) as exc:
        parse_created_event(raw, ARGS)
    assert exc.value.failure.reason is FailureReason.CONFIG_INVALID


@pytest.mark.parametrize(
    ("overrides", "needed"),
    [
        ({"forge": "local", "target_repo_url": "/srv/t.git"}, False),
        ({"forge": "local", "target_repo_url": "file:///srv/t.git"}, False),
        ({"forge": "local", "target_repo_url": "https://git.example/o/r.git"}, True),
        ({"forge": "github", "target_repo_url": "https://github.com/o/r.git"}, True),
    ],
)
def test_which_targets_need_a_github_token(overrides: dict[str, str], needed: bool) -> None:
    config = parse_config({"target_id": "demo", **overrides}, "t")
    assert needs_github_token(config) is needed


def test_spool_lives_beside_the_checkout_unless_configured(tmp_path: Path) -> None:
    assert (
        spool_file(Settings(spool_dir=None), tmp_path, "a1") == tmp_path / "a1/spool/events.jsonl"
    )
    assert spool_file(Settings(spool_dir="/s"), tmp_path, "a1") == Path("/s/worker-a1.jsonl")


def test_the_dispatchers_arguments_are_what_run_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    message = DispatchMessage(
        target_id="demo", task_id="t1", attempt_id=ARGS.attempt_id, attempt_number=1, fence=4,
        created_event={},
    )  # fmt: skip
    seen: list[AttemptArgs] = []

    def fake_start(args: AttemptArgs, raw: str | None) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(cli, "start", fake_start)
    result = CliRunner().invoke(cli.app, worker_arguments(message), env={})
    assert result.exit_code == 0, result.output
    assert seen == [ARGS]


def test_arguments_come_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[AttemptArgs] = []

    def fake_start(args: AttemptArgs, raw: str | None) -> int:
        seen.append(args)
        return 7

    monkeypatch.setattr(cli, "start", fake_start)
    env = {"LEVIATHAN_TARGET": "demo", "LEVIATHAN_TASK": "t1",
           "LEVIATHAN_ATTEMPT": ARGS.attempt_id, "LEVIATHAN_FENCE": "4"}  # fmt: skip
    result = CliRunner().invoke(cli.app, ["run"], env=env)
    assert result.exit_code == 7
    assert seen == [ARGS]


def test_missing_argument_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli.app, ["run", "--target", "demo"], env={})
    assert result.exit_code == 2
    assert "--task" in result.output


def test_titles_and_messages_are_deterministic() -> None:
    task = parse_task(0, {"id": "t1", "title": "Fix  the\nlinks", "allowed_paths": ["docs/a.md"],
                          "acceptance_criteria": ["All links resolve"]})  # fmt: skip
    assert worker_title("backlog-propose") == "Backlog Propose Worker"
    assert pr_title(task, "t1") == "leviathan: Fix the links (t1)"
    assert commit_message(task, "t1", "a1", "backlog-propose") == (
        "leviathan: Fix the links (t1)\n\nTask: t1\nAttempt: a1\nEngine: backlog-propose\n"
    )
    evidence = Evidence(task, "t1", "a1", 4, "agent/b-a1", "backlog-propose", ["docs/a.md"],
                        "passed: 1 path(s)", "http://cp/v1/attempts/a1")  # fmt: skip
    body = pr_body(evidence)
    assert body == pr_body(evidence)
    for part in ("- [ ] All links resolve", "**Fence:** 4", "- `docs/a.md`",
                 "**Timeline:** http://cp/v1/attempts/a1", "**Scope check:** passed"):  # fmt: skip
        assert part in body


@pytest.mark.parametrize("phase", ["run", "prepare", "engine", "publish"])
def test_every_phase_hides_its_environment_before_any_work(
    phase: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine phase too: it holds the agent's key where the gate's programs run."""
    order: list[str] = []

    def undumpable() -> bool:
        order.append("undumpable")
        return True

    def work(*args: object) -> int:
        order.append("work")
        return 0

    monkeypatch.setattr(cli, "make_undumpable", undumpable)
    monkeypatch.setattr(cli, "start", work)
    monkeypatch.setattr(cli, "run_engine_phase", work)
    env = {"LEVIATHAN_TARGET": "demo", "LEVIATHAN_TASK": "t1",
           "LEVIATHAN_ATTEMPT": ARGS.attempt_id, "LEVIATHAN_FENCE": "4"}  # fmt: skip
    result = CliRunner().invoke(cli.app, [phase], env=env)
    assert result.exit_code == 0, result.output
    assert order == ["undumpable", "work"]
