"""Process hardening applied before any change engine runs.

The command engine gets an environment without tokens, but it runs as the
worker's user and could read them from ``/proc/<worker pid>/environ``.
Marking the worker non-dumpable makes its ``/proc`` files root-owned, so a
same-user child can no longer read them (nor attach a debugger to it).
"""

from __future__ import annotations

import ctypes
import sys

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def _prctl(option: int, value: int = 0) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(option, value, 0, 0, 0))


def make_undumpable() -> bool:
    """Best effort; False where prctl is not available (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    return _prctl(PR_SET_DUMPABLE, 0) == 0


def is_dumpable() -> bool:
    return sys.platform.startswith("linux") and _prctl(PR_GET_DUMPABLE) == 1
