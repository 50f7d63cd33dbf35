"""Fill a control plane the way ``make run`` does: real select cycles, real worker attempts.

Two targets on one bare repository (scheduler_stack): ``radix`` dispatches its
first task, whose worker opens a PR on the local forge, and its next cycle
skips with ``max_open_prs``; ``orca`` runs a command engine that exits 3, so
its attempt fails with ``engine_failed``. The first task's title holds
markup, which every page must show as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from leviathan_adapters.forge.local import LocalForge
from leviathan_core.config import AutonomyConfig
from leviathan_core.events import Event
from leviathan_scheduler.cycle import run_cycle
from leviathan_scheduler.runtime import Runtime
from tests.support.scheduler_stack import SchedulerStack, scheduler_stack
from tests.support.worker_harness import WorkerHarness

HOSTILE_TITLE = "<script>document.title='owned'</script> Fix <b>links</b> & more"
BACKLOG = f"""
tasks:
  - id: fix-links
    title: "{HOSTILE_TITLE}"
    ready: true
    scope: docs
    allowed_paths: [docs/README.md]
  - id: write-notes
    title: Write notes
    ready: "yes"
    allowed_paths: [docs/notes.md]
  - id: touch-source
    title: Touch the source
    ready: true
    allowed_paths: [src/app.py]
"""


@dataclass
class Loop:
    stack: SchedulerStack
    pr_attempt: str
    failed_attempt: str


def _cycle(runtime: Runtime, target: str) -> tuple[AutonomyConfig, str | None]:
    config = runtime.config_for(target)
    outcome = run_cycle(config, runtime.deps_for(config))
    return config, outcome.attempt_id


def _work(stack: SchedulerStack, config: AutonomyConfig, attempt_id: str) -> int:
    """Run the dispatched attempt's worker in-process with the scheduler's envelope."""
    (body,) = [
        e
        for e in stack.events("attempt.created", config.target_id)
        if e["attempt_id"] == attempt_id
    ]
    created = Event.model_validate(body)
    assert config.local_forge_dir is not None
    harness = WorkerHarness(
        stack.tmp / f"worker-{config.target_id}",
        stack.cp,
        target_id=config.target_id,
        existing_repo=stack.repo,
    )
    code, _ = harness.run(
        attempt_id,
        fence=created.fence or 1,
        task=created.task_id or "",
        config=config,
        forge=LocalForge(stack.repo, Path(config.local_forge_dir)),
        created=created,
    )
    return code


@contextmanager
def filled_control_plane(tmp: Path, redis_url: str) -> Iterator[Loop]:
    """A control plane holding a PR, a skip with its reason and a failed attempt."""
    with scheduler_stack(tmp, redis_url, backlog=BACKLOG) as stack:
        stack.write_config(
            "orca",
            change_engine="command",
            change_command=["sh", "-c", "exit 3"],
            allow_unsandboxed_engine=True,
        )
        runtime = stack.runtime()
        config, pr_attempt = _cycle(runtime, "radix")
        assert pr_attempt is not None, "the first cycle of radix dispatches"
        assert _work(stack, config, pr_attempt) == 0
        _, skipped = _cycle(runtime, "radix")
        assert skipped is None, "with its PR open, radix skips (max_open_prs)"
        orca, failed_attempt = _cycle(runtime, "orca")
        assert failed_attempt is not None
        assert _work(stack, orca, failed_attempt) != 0
        yield Loop(stack, pr_attempt, failed_attempt)
