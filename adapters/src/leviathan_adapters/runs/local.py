"""Local worker runs (``executor: local``: make run, docker compose), read from files.

Everything ``status()`` needs lives in files under ``<run_dir>/<attempt_id>/``
so the reconciler in another process can answer without the dispatcher that
started the run (``leviathan_dispatch.executors.local``):

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
import signal
import time
from pathlib import Path
from typing import Final

from leviathan_core.events import ID_PATTERN
from leviathan_core.runs import RunStatus

CLAIM_FILE: Final = "claimed"
PID_FILE: Final = "pid"
DELETED_FILE: Final = "deleted"
LOG_FILE: Final = "worker.log"
EXIT_FILE: Final = "exit_code"
_ATTEMPT_ID: Final = re.compile(ID_PATTERN)
_HAS_PROC: Final = Path("/proc/self/stat").exists()


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the whole new one, never a half-written one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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


class LocalRuns:
    """Read and stop local worker runs through their files (starts nothing)."""

    def __init__(self, run_dir: Path, *, kill_grace_seconds: float = 5.0) -> None:
        self.run_dir = Path(run_dir)
        self.kill_grace_seconds = kill_grace_seconds

    def attempt_dir(self, attempt_id: str) -> Path:
        if not _ATTEMPT_ID.fullmatch(attempt_id):
            raise ValueError(f"not a valid attempt id: {attempt_id!r}")
        return self.run_dir / attempt_id

    def log_path(self, attempt_id: str) -> Path:
        """The worker's combined stdout and stderr."""
        return self.attempt_dir(attempt_id) / LOG_FILE

    def _reap(self) -> None:
        """Collect exited children; only a starter has any (see LocalExecutor)."""

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
