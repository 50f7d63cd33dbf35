"""The worker hides its environment (tokens) from the change command it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from leviathan_worker.hardening import PR_SET_DUMPABLE, _prctl, is_dumpable, make_undumpable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux")

# Root may read any process's /proc files, so as root the processes run as nobody.
UID = os.getuid() or 65534
READABLE, REFUSED = 10, 11


def test_worker_process_becomes_undumpable() -> None:
    code = (
        "from leviathan_worker.hardening import is_dumpable, make_undumpable\n"
        "before = is_dumpable()\n"
        "assert make_undumpable()\n"
        "print(before, is_dumpable())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def _become(uid: int) -> None:
    """In a forked child: drop to ``uid`` (no exec, so no path has to be reachable by it)."""
    if os.getuid() != uid:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


@contextmanager
def process(*, hardened: bool) -> Iterator[int]:
    """A forked process of UID, dumpable as any other, then hardened or not; yields its pid.

    Changing uid leaves a process undumpable (fs.suid_dumpable), so both start by
    setting themselves dumpable again: the only difference is ``make_undumpable``.
    """
    hold_r, hold_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.close(hold_w)
            os.close(ready_r)
            _become(UID)
            dumpable = _prctl(PR_SET_DUMPABLE, 1) == 0 and is_dumpable()
            done = make_undumpable() if hardened else True  # /proc shows if it took
            os.write(ready_w, b"y" if dumpable and done else b"n")
            os.read(hold_r, 1)  # until the parent has looked
            status = 0
        finally:
            os._exit(status)
    os.close(hold_r)
    os.close(ready_w)
    try:
        assert os.read(ready_r, 1) == b"y", "the child could not set its dumpable flag"
        yield pid
    finally:
        os.close(hold_w)
        os.close(ready_r)
        os.waitpid(pid, 0)


def read_by_same_user(pid: int) -> int:
    """READABLE or REFUSED: whether another process of UID can read ``pid``'s environ."""
    reader = os.fork()
    if reader == 0:  # pragma: no cover - the child
        status = 2
        try:
            _become(UID)
            with open(f"/proc/{pid}/environ", "rb") as handle:
                status = READABLE if b"PATH=" in handle.read() else 3
        except PermissionError:
            status = REFUSED
        finally:
            os._exit(status)
    _, status = os.waitpid(reader, 0)
    return os.waitstatus_to_exitcode(status)


def test_environ_of_an_undumpable_process_is_root_owned_and_unreadable() -> None:
    with process(hardened=False) as plain, process(hardened=True) as hardened:
        assert os.stat(f"/proc/{plain}/environ").st_uid == UID
        assert read_by_same_user(plain) == READABLE
        assert os.stat(f"/proc/{hardened}/environ").st_uid == 0
        assert read_by_same_user(hardened) == REFUSED
