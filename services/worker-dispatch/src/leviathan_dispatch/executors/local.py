"""Start worker runs as local processes, each in its own session (``executor: local``).

The run's files (``leviathan_adapters.runs.local``) are the only truth: the
reconciler in another process reads them, and this class adds the start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from leviathan_adapters.runs.local import (
    CLAIM_FILE,
    PID_FILE,
    LocalRuns,
    process_start_time,
    write_atomically,
)
from leviathan_core.job_contract import (
    ENV_WORKSPACE_DIR,
    WORKER_PROGRAM,
    attempt_environment,
    worker_arguments,
)
from leviathan_core.messages import DispatchMessage
from leviathan_core.runs import ExecutorRejected, ExecutorUnavailable


def default_command() -> list[str]:
    """``leviathan-worker`` beside this interpreter (a virtualenv), else from PATH."""
    beside = Path(sys.executable).parent / WORKER_PROGRAM
    return [str(beside)] if beside.exists() else [WORKER_PROGRAM]


class LocalExecutor(LocalRuns):
    """Start worker processes in their own session and track them through files."""

    def __init__(
        self,
        run_dir: Path,
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        echo: bool = True,
        kill_grace_seconds: float = 5.0,
    ) -> None:
        super().__init__(run_dir, kill_grace_seconds=kill_grace_seconds)
        self.command = list(command) if command else default_command()
        self.env = dict(env or {})
        self.echo = echo
        self._children: list[subprocess.Popen[bytes]] = []

    def _check_program(self) -> None:
        program = self.command[0]
        if shutil.which(program) is None:
            raise ExecutorRejected(
                f"local executor: worker program {program!r} not found or not executable "
                "(install the leviathan-worker package into this environment)"
            )

    def start(self, message: DispatchMessage) -> bool:
        self._reap()
        self._check_program()
        folder = self.attempt_dir(message.attempt_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / CLAIM_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False  # an earlier delivery claimed (and started) this attempt
        except OSError as exc:
            raise ExecutorUnavailable(f"local executor: cannot use {folder}: {exc}") from exc
        with os.fdopen(fd, "w") as claim:
            claim.write(message.model_dump_json())
        env = {**os.environ, **self.env, **attempt_environment(message)}
        env[ENV_WORKSPACE_DIR] = str((folder / "workspace").resolve())
        runner = [sys.executable, "-m", "leviathan_dispatch.executors.local_runner"]
        argv = [*runner, str(folder), f"[{message.attempt_id}] ", "--", *self.command]
        try:
            child = subprocess.Popen(
                [*argv, *worker_arguments(message)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=None if self.echo else subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            (folder / CLAIM_FILE).unlink(missing_ok=True)  # nothing started: allow a retry
            raise ExecutorUnavailable(f"local executor: cannot start the worker: {exc}") from exc
        self._children.append(child)
        write_atomically(folder / PID_FILE, f"{child.pid} {process_start_time(child.pid) or ''}\n")
        return True

    def _reap(self) -> None:
        """Collect exited children so they do not linger as zombies."""
        self._children = [child for child in self._children if child.poll() is None]
