"""Worker runs as local processes, for ``executor: local`` (make run, docker compose).

Everything ``status()`` needs lives in files under ``<run_dir>/<attempt_id>/``
so the reconciler in another process can answer without the dispatcher:

- ``claimed``: created with O_EXCL, so a duplicate delivery starts nothing;
- ``pid``: the wrapper's pid and kernel start time (guards against pid reuse);
- ``exit_code``: written by the wrapper (local_runner) when the worker ends;
- ``deleted``: written by ``delete()``; the run then reads as missing, like a
  deleted Job;
- ``worker.log``: the worker's stdout and stderr.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from leviathan_shared.events import ID_PATTERN
from leviathan_shared.executors.base import ExecutorUnavailable, RunStatus
from leviathan_shared.executors.contract import (
    ENV_WORKSPACE_DIR,
    WORKER_PROGRAM,
    ExecutorRejected,
    attempt_environment,
    worker_arguments,
)
from leviathan_shared.executors.local_runner import EXIT_FILE, LOG_FILE, write_atomically
from leviathan_shared.messages import DispatchMessage

CLAIM_FILE: Final = "claimed"
PID_FILE: Final = "pid"
DELETED_FILE: Final = "deleted"
_ATTEMPT_ID: Final = re.compile(ID_PATTERN)
_HAS_PROC: Final = Path("/proc/self/stat").exists()


def default_command() -> list[str]:
    """``leviathan-worker`` beside this interpreter (a virtualenv), else from PATH."""
    beside = Path(sys.executable).parent / WORKER_PROGRAM
    return [str(beside)] if beside.exists() else [WORKER_PROGRAM]


def process_start_time(pid: int) -> str | None:
    """The kernel start time of a live, non-zombie process; "" where /proc is absent."""
    if not _HAS_PROC:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return None if fields[0] in ("Z", "X") else fields[19]


def describe_exit(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class LocalExecutor:
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
        self.run_dir = Path(run_dir)
        self.command = list(command) if command else default_command()
        self.env = dict(env or {})
        self.echo = echo
        self.kill_grace_seconds = kill_grace_seconds
        self._children: list[subprocess.Popen[bytes]] = []

    def attempt_dir(self, attempt_id: str) -> Path:
        if not _ATTEMPT_ID.fullmatch(attempt_id):
            raise ValueError(f"not a valid attempt id: {attempt_id!r}")
        return self.run_dir / attempt_id

    def log_path(self, attempt_id: str) -> Path:
        """The worker's combined stdout and stderr."""
        return self.attempt_dir(attempt_id) / LOG_FILE

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
        runner = [sys.executable, "-m", "leviathan_shared.executors.local_runner"]
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

    def _live_pid(self, folder: Path) -> int | None:
        try:
            pid_text, _, started = (folder / PID_FILE).read_text().strip().partition(" ")
        except FileNotFoundError:
            return None
        pid = int(pid_text)
        now = process_start_time(pid)
        if now is None or (started and now and now != started):
            return None
        return pid

    def status(self, attempt_id: str) -> RunStatus:
        self._reap()
        folder = self.attempt_dir(attempt_id)
        if not (folder / CLAIM_FILE).exists():
            return RunStatus(attempt_id=attempt_id, state="missing", detail=f"no run in {folder}")
        if (folder / DELETED_FILE).exists():
            return RunStatus(attempt_id=attempt_id, state="missing", detail="run was deleted")
        for _ in range(2):  # the exit code may appear between the two reads
            if (folder / EXIT_FILE).exists():
                code = int((folder / EXIT_FILE).read_text().strip())
                state = "succeeded" if code == 0 else "failed"
                return RunStatus(attempt_id=attempt_id, state=state, detail=describe_exit(code))
            if not (folder / PID_FILE).exists():
                return RunStatus(attempt_id=attempt_id, state="pending", detail="starting")
            pid = self._live_pid(folder)
            if pid is not None:
                return RunStatus(attempt_id=attempt_id, state="running", detail=f"pid {pid}")
        return RunStatus(
            attempt_id=attempt_id,
            state="failed",
            detail="worker process ended without recording an exit code",
        )

    def delete(self, attempt_id: str) -> None:
        folder = self.attempt_dir(attempt_id)
        if not (folder / CLAIM_FILE).exists():
            return
        write_atomically(folder / DELETED_FILE, "deleted\n")
        pid = self._live_pid(folder)
        if pid is None:
            return
        self._signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace_seconds
        while time.monotonic() < deadline:
            self._reap()
            if self._live_pid(folder) is None:
                return
            time.sleep(0.05)
        self._signal_group(pid, signal.SIGKILL)
        self._reap()

    @staticmethod
    def _signal_group(pid: int, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)  # the wrapper leads its own session and group
