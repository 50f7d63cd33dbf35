"""The ``leviathan`` command: check a backlog, plan a cycle, and operate targets.

User errors print one paragraph to stderr and exit 2; no traceback.

Only typer is imported up front: the models, pydantic and the clients are
imported by the commands that use them, so ``leviathan --help`` answers in a
fraction of a second (``make bench`` holds it to 0.3 s).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from leviathan_scheduler import ops_cli

if TYPE_CHECKING:
    from leviathan_core.backlog import Backlog, BacklogError
    from leviathan_core.config import AutonomyConfig
    from leviathan_core.guardrails import Decision, Facts

app = typer.Typer(
    name="leviathan",
    help="Leviathan: ready backlog tasks to pull requests, under guardrails.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help and errors: rich's formatting costs 0.1 s per call and colour in pipes.
    rich_markup_mode=None,
)


def fail(message: str) -> NoReturn:
    """A user error: one clear paragraph on stderr, exit code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


EXAMPLE_TARGET = Path("ops/autonomy/dev.yaml")


def _example_target() -> str:
    """Without LEVIATHAN_CONFIG, ``plan`` in a checkout of Leviathan plans its example target."""
    from leviathan_adapters.process_settings import process_settings

    if EXAMPLE_TARGET.is_file():
        return str(EXAMPLE_TARGET)
    return process_settings().config_path()  # raises, saying how to set LEVIATHAN_CONFIG


def pick_config(config_path: str | None, target: str | None) -> AutonomyConfig:
    """The target's configuration from a file or a directory of files."""
    from leviathan_adapters.process_settings import process_settings
    from leviathan_core.config import ConfigError, load_configs

    try:
        path = config_path or process_settings().config or _example_target()
        configs = load_configs(path)
    except ConfigError as exc:
        fail(str(exc))
    if target is not None:
        if target not in configs:
            fail(f"{path}: no target {target!r} (known: {', '.join(sorted(configs))})")
        return configs[target]
    if len(configs) > 1:
        fail(f"{path} defines several targets ({', '.join(sorted(configs))}); pass --target")
    return next(iter(configs.values()))


def read_backlog(path: Path) -> Backlog:
    from leviathan_core.backlog import parse_backlog

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read backlog: {exc.strerror or exc}")
    return parse_backlog(data, str(path))


def parse_attempts(values: list[str]) -> dict[str, int]:
    attempts: dict[str, int] = {}
    for value in values:
        task, sep, count = value.partition("=")
        if not sep or not task or not count.isdigit():
            fail(f"--attempts {value!r}: expected TASK=N with N a non-negative integer")
        attempts[task] = int(count)
    return attempts


@app.command("check-backlog")
def check_backlog(
    path: Annotated[Path, typer.Argument(help="Path to a backlog.yaml")],
    config: Annotated[str | None, typer.Option(help="Autonomy config file or dir")] = None,
    target: Annotated[str | None, typer.Option(help="Target id when --config has several")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Validate a backlog: exit 0 when usable (with each task's eligibility), 2 when not."""
    from leviathan_core.backlog import BacklogError
    from leviathan_core.guardrails import Facts, decide
    from leviathan_scheduler.console import emit, task_lines

    cfg = pick_config(config, target)
    try:
        backlog = read_backlog(path)
    except BacklogError as exc:
        if as_json:
            print(json.dumps({"valid": False, "errors": [str(exc)]}))
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    decision = decide(cfg, backlog, Facts())
    if as_json:
        payload = decision.as_json()
        print(
            json.dumps(
                {
                    "valid": True,
                    "task_count": len(backlog.tasks),
                    "problems": backlog.problems,
                    "tasks": payload["tasks"],
                }
            )
        )
        return
    emit([f"✓ {path}: {len(backlog.tasks)} tasks", *task_lines(decision)])
    for problem in backlog.problems:
        typer.echo(f"warning: {problem} (skipped)", err=True)


@app.command("plan")
def plan(
    backlog: Annotated[Path | None, typer.Option(help="Plan on this backlog file")] = None,
    target: Annotated[
        str | None, typer.Option(help="Target id (live facts without --backlog)")
    ] = None,
    config: Annotated[str | None, typer.Option(help="Autonomy config file or dir")] = None,
    open_prs: Annotated[int, typer.Option(min=0, help="Open agent/ PRs")] = 0,
    running: Annotated[int, typer.Option(min=0, help="Running attempts")] = 0,
    attempts: Annotated[list[str] | None, typer.Option(help="TASK=N attempts used")] = None,
    failures: Annotated[int, typer.Option(min=0, help="Consecutive failed attempts")] = 0,
    paused: Annotated[bool, typer.Option(help="Treat the target as paused")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Show what the scheduler would do and why, changing nothing."""
    from leviathan_core.backlog import BacklogError
    from leviathan_core.guardrails import Facts, decide

    cfg = pick_config(config, target)
    parsed: Backlog | BacklogError | None
    if backlog is None:
        if target is None:
            fail("pass --backlog PATH (given facts) or --target ID (live facts)")
        parsed, facts = ops_cli.live_facts(cfg)
    else:
        try:
            parsed = read_backlog(backlog)
        except BacklogError as exc:
            parsed = exc
        facts = Facts(
            paused=paused,
            pause_reason="--paused" if paused else None,
            consecutive_failures=failures,
            open_pr_count=open_prs,
            running_count=running,
            attempts_per_task=parse_attempts(attempts or []),
        )
    show_decision(cfg, facts, parsed, decide(cfg, parsed, facts), as_json)


def show_decision(
    cfg: AutonomyConfig,
    facts: Facts,
    parsed: Backlog | BacklogError | None,
    decision: Decision,
    as_json: bool,
) -> None:
    from leviathan_core.backlog import Backlog
    from leviathan_scheduler.console import decision_json, emit, scheduler_block

    if as_json:
        print(json.dumps(decision_json(decision, facts)))
        return
    size = len(parsed.tasks) if isinstance(parsed, Backlog) else None
    emit(scheduler_block(cfg, facts, decision, backlog_size=size))


ops_cli.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
