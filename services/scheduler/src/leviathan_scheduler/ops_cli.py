"""Operator commands with live facts: pause, resume, reset-breaker, status, tick, attempts.

Exit codes: 0 done (for ``tick``: any decided cycle, dispatch or skip);
1 a system the command must change could not be reached (for ``status``: no
reading at all could be taken); 2 bad usage or an invalid configuration.
Errors are one paragraph on stderr, never a traceback.

Everything past typer is imported inside the commands that use it (Redis,
httpx, pydantic, Celery's schedules, the clients): ``leviathan --help`` loads
this module too, and should answer in a fraction of a second.
"""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from leviathan_core.backlog import Backlog, BacklogError
    from leviathan_core.config import AutonomyConfig
    from leviathan_core.events import EventType
    from leviathan_core.guardrails import Facts
    from leviathan_core.settings import Settings
    from leviathan_scheduler.deps import CycleDeps
    from leviathan_scheduler.runtime import Runtime

T = TypeVar("T")
TargetOpt = Annotated[str, typer.Option("--target", help="Target id")]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="Autonomy config file or dir")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (e.g. an arbitrary container uid)
        return "cli:operator"


def _runtime(config_path: str | None, *, send: bool = False) -> Runtime:
    from leviathan_adapters.process_settings import process_settings
    from leviathan_core.config import ConfigError
    from leviathan_scheduler.runtime import Runtime

    try:
        settings: Settings = process_settings()
    except ConfigError as exc:  # e.g. half a GitHub App: one line, exit 2
        _fail(str(exc))
    if config_path is not None:
        settings = settings.model_copy(update={"config": config_path})
    sender = None
    if send:
        from leviathan_scheduler.celery_app import create_app  # only `tick` needs a producer

        sender = create_app(settings).send_task
    return Runtime(settings, sender, with_executor=send)


def _config(runtime: Runtime, target: str) -> AutonomyConfig:
    from leviathan_core.config import ConfigError

    try:
        return runtime.config_for(target)
    except ConfigError as exc:
        _fail(str(exc))


def _deps(runtime: Runtime, cfg: AutonomyConfig) -> CycleDeps:
    from leviathan_core.config import ConfigError

    try:
        return runtime.deps_for(cfg)
    except ConfigError as exc:
        _fail(str(exc))


def _guard(what: str, call: Callable[[], T]) -> T:
    """Run ``call``; an unreachable system ends the command with exit 1."""
    from redis.exceptions import RedisError

    from leviathan_adapters.control_plane_client import (
        ControlPlaneRejected,
        ControlPlaneUnavailable,
    )

    try:
        return call()
    except RedisError as exc:
        _fail(f"{what}: Redis unavailable: {exc}", 1)
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        _fail(f"{what}: control plane: {exc}", 1)


def live_facts(config: AutonomyConfig) -> tuple[Backlog | BacklogError | None, Facts]:
    """The facts the next tick would see, read without changing anything."""
    from leviathan_scheduler.facts import gather

    runtime = _runtime(None)
    gathered = gather(config, _deps(runtime, config))
    return gathered.backlog, gathered.facts


def pause(
    target: TargetOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown in every skipped cycle)")],
    duration: Annotated[
        str | None, typer.Option("--for", help="Resume by itself after e.g. 30m, 2h, 1d")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Pause a target: cycles skip with reason `paused` until resumed or expired."""
    from leviathan_adapters import slots
    from leviathan_core.events import EventType
    from leviathan_scheduler.console import emit
    from leviathan_scheduler.status import parse_duration

    try:
        seconds = parse_duration(duration) if duration is not None else None
    except ValueError as exc:
        _fail(str(exc))
    if not reason.strip():
        _fail("--reason must not be empty")
    runtime = _runtime(config)
    cfg = _config(runtime, target)
    actor = _actor()
    state = _guard(
        "pause",
        lambda: slots.pause(
            runtime.redis, cfg.target_id, reason=reason, by=actor, for_seconds=seconds
        ),
    )
    until = state.until.isoformat() if state.until else None
    _record(runtime, cfg, EventType.TARGET_PAUSED, {"reason": reason, "by": actor, "until": until})
    emit([f"⏸ Paused {cfg.target_id}: {reason}" + (f" (until {until})" if until else "")])


def resume(target: TargetOpt, config: ConfigOpt = None) -> None:
    """Resume a paused target."""
    from leviathan_adapters import slots
    from leviathan_core.events import EventType
    from leviathan_scheduler.console import emit

    runtime = _runtime(config)
    cfg = _config(runtime, target)
    was_paused = _guard("resume", lambda: slots.resume(runtime.redis, cfg.target_id))
    _record(runtime, cfg, EventType.TARGET_RESUMED, {"by": _actor(), "was_paused": was_paused})
    emit([f"▶ Resumed {cfg.target_id}" + ("" if was_paused else " (it was not paused)")])


def _record(
    runtime: Runtime, cfg: AutonomyConfig, kind: EventType, payload: dict[str, Any]
) -> None:
    from leviathan_adapters.control_plane_client import (
        ControlPlaneRejected,
        ControlPlaneUnavailable,
    )
    from leviathan_core.events import new_event

    deps = _deps(runtime, cfg)
    event = new_event(kind, target_id=cfg.target_id, actor=_actor(), payload=payload)
    try:
        outcome = deps.control_plane.post_event(event)
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        typer.echo(f"warning: {kind.value} not recorded: {exc}", err=True)
        return
    if getattr(outcome, "status", "") == "spooled":
        typer.echo(f"warning: control plane away; {kind.value} spooled for later", err=True)


def reset_breaker(
    target: TargetOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why it is safe to resume")],
    config: ConfigOpt = None,
) -> None:
    """Close the breaker (a breaker.reset event zeroes the failure count)."""
    from leviathan_scheduler.console import emit

    if not reason.strip():
        _fail("--reason must not be empty")
    runtime = _runtime(config)
    cfg = _config(runtime, target)
    client = _deps(runtime, cfg).control_plane
    _guard("reset-breaker", lambda: client.reset_breaker(cfg.target_id, reason, _actor()))
    emit([f"✓ Breaker reset for {cfg.target_id}: {reason}"])


def status(
    target: Annotated[str | None, typer.Option("--target", help="Only this target")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per target: paused, breaker, slots, running attempts, open PRs, next tick."""
    from leviathan_core.config import ConfigError
    from leviathan_scheduler.console import emit
    from leviathan_scheduler.schedule import schedule_override
    from leviathan_scheduler.status import nothing_readable, render, target_status

    runtime = _runtime(config)
    try:
        override = schedule_override()
        # One target: other files' problems do not hide it; all targets: every problem.
        configs = {target: runtime.config_for(target)} if target else runtime.configs()
    except ConfigError as exc:
        _fail(str(exc))
    rows = [target_status(cfg, _deps(runtime, cfg), override) for cfg in configs.values()]
    if as_json:
        print(json.dumps({"targets": rows}))
    else:
        for row in rows:
            emit(render(row))
    if rows and nothing_readable(rows):
        _fail("status: nothing could be read (Redis, control plane and forge unavailable)", 1)


def tick(target: TargetOpt, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Run one select cycle now, in this process (the CronJob mode)."""
    from leviathan_scheduler.cycle import run_cycle

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    runtime = _runtime(config, send=True)
    cfg = _config(runtime, target)
    deps = _deps(runtime, cfg)
    if as_json:
        deps.out = lambda lines: None
    try:
        outcome = run_cycle(cfg, deps)
    except Exception as exc:  # a bug must still end with one line, not a traceback
        logging.getLogger(__name__).debug("cycle failed", exc_info=True)
        _fail(f"tick {target}: internal error: {type(exc).__name__}: {exc}", 1)
    if as_json:
        print(json.dumps(outcome.as_json()))


def attempts(
    target: TargetOpt,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only failed ones, newest first")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many")] = 20,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A target's latest attempts from the control plane: status, reason, PR."""
    from leviathan_scheduler.console import emit
    from leviathan_scheduler.status import attempt_lines

    runtime = _runtime(config)
    cfg = _config(runtime, target)
    client = _deps(runtime, cfg).control_plane
    read = client.list_failures if failed else client.list_attempts
    rows = _guard("attempts", lambda: read(cfg.target_id, limit=limit))
    if as_json:
        print(json.dumps({"attempts": [row.model_dump(mode="json") for row in rows]}))
        return
    emit(attempt_lines(rows) or [f"No {'failed ' if failed else ''}attempts for {target}"])


def register(app: typer.Typer) -> None:
    """Add the live operator commands to ``app``."""
    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("reset-breaker")(reset_breaker)
    app.command("status")(status)
    app.command("tick")(tick)
    app.command("attempts")(attempts)
