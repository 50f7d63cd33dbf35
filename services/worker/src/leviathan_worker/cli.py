"""``leviathan-worker run``: the entry point a Kubernetes Job or the local executor starts.

Everything comes from arguments or ``LEVIATHAN_*`` variables (the Job spec
sets the variables, see ``leviathan_core.job_contract``). The worker
refuses to start, with a clear message and exit code 2, when a setting is
missing or wrong; whenever the control plane can still be told, it also
records ``attempt.failed`` with the reason code. Exit code 1 is a failed
attempt, 0 an open pull request.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Final

import typer
from pydantic import ValidationError

from leviathan_adapters.control_plane_client import (
    ControlPlaneClient,
    ControlPlaneRejected,
    ControlPlaneUnavailable,
)
from leviathan_adapters.forge.factory import make_forge
from leviathan_adapters.git_auth import is_http_url, secret_value
from leviathan_adapters.github_credentials import GitCredentials
from leviathan_core.config import AutonomyConfig, ConfigError, load_configs
from leviathan_core.constants import branch_name
from leviathan_core.events import Event, EventType, FailureReason
from leviathan_core.job_contract import (
    ENV_ATTEMPT,
    ENV_CREATED_EVENT,
    ENV_FENCE,
    ENV_TARGET,
    ENV_TASK,
    ENV_WORKSPACE_DIR,
)
from leviathan_core.settings import Settings
from leviathan_worker.engine_phase import EngineJob, EngineOutcome, apply_engine, write_outcome
from leviathan_worker.engines import EngineError, make_engine
from leviathan_worker.failure import AttemptFailure
from leviathan_worker.gate import make_gate
from leviathan_worker.hardening import make_undumpable
from leviathan_worker.layout import Layout
from leviathan_worker.preparing import task_from_source
from leviathan_worker.report import FENCE_CHECK_SECONDS, Console, Reporter
from leviathan_worker.runner import AttemptArgs, AttemptRun, WorkerContext

ENV_FLUSH_SECONDS: Final = "LEVIATHAN_WORKER_FLUSH_SECONDS"
ENV_FENCE_CHECK_SECONDS: Final = "LEVIATHAN_WORKER_FENCE_CHECK_SECONDS"
EXIT_REFUSED: Final = 2

app = typer.Typer(add_completion=False, help="Leviathan worker: run one attempt.")


class StartRefused(Exception):
    """The worker cannot start; carries the reason code for attempt.failed."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.failure = AttemptFailure(reason, message)


@app.callback()
def _group() -> None:
    """Leviathan worker."""


def parse_created_event(raw: str | None, args: AttemptArgs) -> Event | None:
    """The scheduler's attempt.created envelope, checked against this attempt."""
    if not raw:
        return None
    try:
        event = Event.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise StartRefused(
            FailureReason.CONFIG_INVALID, f"{ENV_CREATED_EVENT} is not a valid event: {exc}"
        ) from None
    expected = (EventType.ATTEMPT_CREATED, args.target_id, args.task_id, args.attempt_id)
    found = (event.type, event.target_id, event.task_id, event.attempt_id)
    if found != expected or event.fence != args.fence:
        raise StartRefused(
            FailureReason.CONFIG_INVALID,
            f"{ENV_CREATED_EVENT} describes {event.type.value} of attempt {event.attempt_id} "
            f"(fence {event.fence}), not attempt.created of {args.attempt_id} "
            f"(fence {args.fence})",
        )
    return event


def load_target(settings: Settings, target_id: str) -> AutonomyConfig:
    try:
        configs = load_configs(settings.config_path())
    except ConfigError as exc:
        raise StartRefused(FailureReason.CONFIG_INVALID, str(exc)) from None
    if target_id not in configs:
        known = ", ".join(sorted(configs)) or "none"
        raise StartRefused(
            FailureReason.CONFIG_INVALID,
            f"{settings.config_path()}: no target {target_id!r} (configured: {known})",
        )
    return configs[target_id]


def spool_file(settings: Settings, workspace_dir: Path, attempt_id: str) -> Path:
    """The worker's event spool: LEVIATHAN_SPOOL_DIR, else beside the checkout."""
    if settings.spool_dir:
        return Path(settings.spool_dir) / f"worker-{attempt_id}.jsonl"
    return workspace_dir / attempt_id / "spool" / "events.jsonl"


def needs_github_token(config: AutonomyConfig) -> bool:
    return config.forge == "github" or is_http_url(config.target_repo_url)


def _seconds(variable: str, default: float) -> float:
    """A duration from the environment; a value that is not a number refuses the start."""
    raw = os.environ.get(variable, str(default))
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise StartRefused(
            FailureReason.CONFIG_INVALID, f"{variable}={raw!r} is not a number"
        ) from None


def _report_refusal(
    settings: Settings, args: AttemptArgs, created: Event | None, failure: AttemptFailure
) -> None:
    """Best effort: tell the control plane why this attempt never started."""
    url, token = settings.control_plane_url, settings.control_plane_token
    if not url or not secret_value(token):
        return
    console = Console(sys.stderr)
    with ControlPlaneClient(url, token, retries=1) as client:
        reporter = Reporter(
            client,
            console,
            target_id=args.target_id,
            task_id=args.task_id,
            attempt_id=args.attempt_id,
            fence=args.fence,
        )
        try:
            if created is not None:
                client.post_event(created)
            reporter.failed(failure)
        except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
            console.say(f"! could not record the refusal: {exc}")


def private_paths(settings: Settings, workspace: Path) -> list[Path]:
    """What the command engine's sandbox hides: other attempts, the publisher's
    clone, the spool, caches, HOME, the ``.leviathan-run`` env file's folder and
    the folder of a GitHub App's key file."""
    named = [settings.data_dir, settings.cache_dir, settings.spool_dir, ".leviathan-run"]
    key_file = settings.github_app_private_key_file
    keys = [Path(key_file).absolute().parent] if key_file else []
    return [workspace, Path.home(), *(Path(p).absolute() for p in named if p), *keys]


def _context(settings: Settings, args: AttemptArgs, console: Console) -> WorkerContext:
    config = load_target(settings, args.target_id)
    workspace = Path(os.environ.get(ENV_WORKSPACE_DIR) or config.workspace_dir)
    hidden = tuple(private_paths(settings, workspace))
    try:
        forge = make_forge(config, settings)
        engine = make_engine(config, hidden=hidden)
        credentials = GitCredentials.for_target(config, settings)
    except (ConfigError, EngineError, ValueError) as exc:
        raise StartRefused(FailureReason.CONFIG_INVALID, str(exc)) from None
    flush_seconds = _seconds(ENV_FLUSH_SECONDS, 30)
    fence_check_seconds = _seconds(ENV_FENCE_CHECK_SECONDS, FENCE_CHECK_SECONDS)
    url = settings.control_plane_for(config)
    cp_token = settings.control_plane_token
    client = ControlPlaneClient(
        url, cp_token, spool_path=spool_file(settings, workspace, args.attempt_id)
    )
    github_token = settings.github_token if secret_value(settings.github_token) else None
    secrets = tuple(s for s in (secret_value(github_token), secret_value(cp_token)) if s)
    return WorkerContext(
        config=config,
        client=client,
        forge=forge,
        engine=engine,
        console=console,
        workspace_dir=workspace,
        control_plane_url=url,
        github_token=github_token,
        token_required=needs_github_token(config),
        secrets=secrets,
        flush_seconds=flush_seconds,
        fence_check_seconds=fence_check_seconds,
        hidden=hidden,
        git_credentials=credentials if credentials.app is not None else None,
    )


def start(args: AttemptArgs, raw_created: str | None, phase: str = "run") -> int:
    """Build everything from the environment and run the attempt (or one of its
    phases: ``prepare``, ``publish``); returns the exit code."""
    try:
        settings = Settings()
    except ValidationError as exc:  # input values hidden: a key or token is never printed
        print(f"✗ Attempt failed: config_invalid: bad setting: {exc}", flush=True)
        return EXIT_REFUSED
    created: Event | None = None
    try:
        created = parse_created_event(raw_created, args)
        if not secret_value(settings.control_plane_token):
            raise StartRefused(
                FailureReason.MISSING_TOKEN,
                "LEVIATHAN_CONTROL_PLANE_TOKEN is not set; the worker cannot report its "
                "attempt without it",
            )
        tokens = (secret_value(settings.github_token), secret_value(settings.control_plane_token))
        console = Console(secrets=[t for t in tokens if t])
        ctx = _context(settings, args, console)
    except StartRefused as refused:
        print(f"leviathan-worker: cannot start: {refused}", file=sys.stderr, flush=True)
        _report_refusal(settings, args, created, refused.failure)
        print(refused.failure.line(), flush=True)
        return EXIT_REFUSED
    attempt = AttemptRun(
        AttemptArgs(args.target_id, args.task_id, args.attempt_id, args.fence, created), ctx
    )
    with ctx.client:
        if phase == "prepare":
            return attempt.prepare()
        if phase == "publish":
            return attempt.publish()
        return attempt.run()


@app.command()
def run(
    target: Annotated[str, typer.Option(envvar=ENV_TARGET, help="Target id.")],
    task: Annotated[str, typer.Option(envvar=ENV_TASK, help="Task id.")],
    attempt: Annotated[str, typer.Option(envvar=ENV_ATTEMPT, help="Attempt id.")],
    fence: Annotated[int, typer.Option(envvar=ENV_FENCE, min=0, help="Fence token.")],
) -> None:
    """Run one attempt: clone, change, verify, push the agent/ branch, open the PR."""
    args = AttemptArgs(target, task, attempt, fence)
    make_undumpable()
    raise typer.Exit(start(args, os.environ.get(ENV_CREATED_EVENT)))


def run_engine_phase(args: AttemptArgs) -> int:
    """The engine container's work: no token, no control plane, only the engine folder.

    Exits 0 whenever it could say how the engine ended (``result.json``); the
    publisher reports the attempt. Exit 2 means the phase itself could not start.
    """
    console = Console()
    try:
        settings = Settings()
        config = load_target(settings, args.target_id)
        engine = make_engine(config, contained=True)
    except (ValidationError, StartRefused, ConfigError, EngineError, ValueError) as exc:
        print(f"leviathan-worker engine: cannot start: {exc}", file=sys.stderr, flush=True)
        return EXIT_REFUSED
    workspace = Path(os.environ.get(ENV_WORKSPACE_DIR) or config.workspace_dir)
    layout = Layout.of(workspace, args.attempt_id)
    task = task_from_source(layout.task_source, args.task_id)
    if task is None:
        outcome = EngineOutcome(False, "the prepare phase left no readable task for the engine")
    else:
        branch = branch_name(args.attempt_id, engine.name)
        job = EngineJob(task, args.task_id, args.attempt_id, branch, config.allowed_path_prefixes)
        gate = make_gate(config, contained=True)
        outcome = apply_engine(engine, layout, job, console.say, gate=gate)
    write_outcome(layout, outcome)
    console.say("✓ Change engine finished" if outcome.ok else f"✗ Change engine failed: "
                f"{outcome.message}")  # fmt: skip
    return 0


Target = Annotated[str, typer.Option(envvar=ENV_TARGET, help="Target id.")]
Task = Annotated[str, typer.Option(envvar=ENV_TASK, help="Task id.")]
AttemptId = Annotated[str, typer.Option(envvar=ENV_ATTEMPT, help="Attempt id.")]
Fence = Annotated[int, typer.Option(envvar=ENV_FENCE, min=0, help="Fence token.")]


@app.command()
def prepare(target: Target, task: Task, attempt: AttemptId, fence: Fence) -> None:
    """A Job's first phase: clone, re-check the task, give the engine its tree (tokens)."""
    make_undumpable()
    args = AttemptArgs(target, task, attempt, fence)
    raise typer.Exit(start(args, os.environ.get(ENV_CREATED_EVENT), "prepare"))


@app.command()
def engine(target: Target, task: Task, attempt: AttemptId, fence: Fence) -> None:
    """A Job's second phase: run the change engine where no token is (no tokens needed).

    Non-dumpable too: for the ``agent`` engine this process holds the model's key, and
    the gate's programs run beside it under the same uid (no sandbox in the container).
    """
    make_undumpable()
    raise typer.Exit(run_engine_phase(AttemptArgs(target, task, attempt, fence)))


@app.command()
def publish(target: Target, task: Task, attempt: AttemptId, fence: Fence) -> None:
    """A Job's last phase: commit the engine's change in a clean clone, push, open the PR."""
    make_undumpable()
    args = AttemptArgs(target, task, attempt, fence)
    raise typer.Exit(start(args, os.environ.get(ENV_CREATED_EVENT), "publish"))


def main() -> None:
    app()
