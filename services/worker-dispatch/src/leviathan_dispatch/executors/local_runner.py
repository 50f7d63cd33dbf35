"""The tiny wrapper around a local worker process.

``python -m leviathan_dispatch.executors.local_runner <run dir> <prefix> -- <command...>``
runs the command, copies its output to ``<run dir>/worker.log`` (and, best
effort, to its own stdout with a prefix), then records the exit code in
``<run dir>/exit_code``. The file is what lets ``LocalRuns.status()`` in
another process tell "succeeded" from "failed" after the process is gone; a
closed stdout never kills the worker, it only stops the echo.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import IO

from leviathan_adapters.runs.local import EXIT_FILE, LOG_FILE, write_atomically


def _copy_output(source: IO[bytes], log: IO[bytes], prefix: bytes) -> None:
    echo = True
    for line in iter(source.readline, b""):
        log.write(line)
        log.flush()
        if echo:
            try:
                sys.stdout.buffer.write(prefix + line)
                sys.stdout.buffer.flush()
            except (OSError, ValueError):
                echo = False


def run(run_dir: Path, prefix: str, command: list[str]) -> int:
    with (run_dir / LOG_FILE).open("ab") as log:
        try:
            child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            log.write(f"cannot start {command[0]}: {exc}\n".encode())
            write_atomically(run_dir / EXIT_FILE, "127\n")
            return 127

        def forward(signum: int, _frame: FrameType | None) -> None:
            child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        assert child.stdout is not None
        _copy_output(child.stdout, log, prefix.encode())
        code = child.wait()
    write_atomically(run_dir / EXIT_FILE, f"{code}\n")
    return code


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: local_runner <run dir> <prefix> -- <command...>", file=sys.stderr)
        return 2
    code = run(Path(argv[0]), argv[1], argv[3:])
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
