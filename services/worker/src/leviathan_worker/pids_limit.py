"""A bound on how many processes a sandboxed engine may have, so a fork bomb stops there.

Preferred: a pids cgroup of its own per run (cgroup v1's ``pids`` hierarchy,
or cgroup v2 where the worker's cgroup already delegates ``pids``). The
sandbox is started through ``sh -c 'echo $$ > cgroup.procs && exec ...'`` so
it is inside the cgroup before bwrap runs: there is no window for an escape.
The cgroup also tells when every process of the run is gone.

Fallback where no cgroup is writable (non-root, most containers):
RLIMIT_NPROC through ``prlimit``. It counts every process of the worker's
uid, so the limit is set to what that uid runs now plus ``maximum``; it does
not bind root, so for root without a cgroup no limit applies, and the
description says so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

JOIN_THEN_EXEC: Final = 'echo $$ > "$0" && exec "$@"'
_PREFIX: Final = "leviathan-sandbox-"


@dataclass(frozen=True, slots=True)
class PidsLimit:
    """What bounds the run (``description`` is logged) and the argv to start it through."""

    description: str
    prefix: tuple[str, ...] = ()
    cgroup: Path | None = None


def _pids_cgroup_dirs(mountinfo: str, self_cgroup: str) -> list[Path]:
    """The worker's own cgroup directories that can hold a pids limit: v1 first, then v2."""
    v1: list[Path] = []
    v2: list[Path] = []
    paths = {}
    for line in self_cgroup.splitlines():
        number, controllers, path = line.split(":", 2)
        paths["v2" if number == "0" else controllers] = path
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        root, mountpoint = fields[3], fields[4]
        fstype, _source, options = line.split(" - ", 1)[1].split()[:3]
        if fstype == "cgroup" and "pids" in options.split(","):
            own = next((p for c, p in paths.items() if "pids" in c.split(",")), None)
            target = v1
        elif fstype == "cgroup2":
            own, target = paths.get("v2"), v2
        else:
            continue
        if own is not None and (own + "/").startswith(root.rstrip("/") + "/"):
            target.append(Path(mountpoint) / own[len(root.rstrip("/")) :].lstrip("/"))
    return v1 + [d for d in v2 if "pids" in _read(d / "cgroup.subtree_control").split()]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _make_cgroup(maximum: int) -> Path | None:
    dirs = _pids_cgroup_dirs(_read(Path("/proc/self/mountinfo")), _read(Path("/proc/self/cgroup")))
    for parent in dirs:
        group = parent / f"{_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            (group / "pids.max").write_text(str(maximum))
            return group
        except OSError:
            group.rmdir()
    return None


def members(group: Path) -> list[int]:
    """Pids in the cgroup (as the worker sees them)."""
    return [int(p) for p in _read(group / "cgroup.procs").split()]


def empty_and_remove(group: Path, wait_seconds: float = 10.0) -> bool:
    """Kill what is left in the cgroup, wait until it is empty, remove it."""
    deadline = time.monotonic() + wait_seconds
    while pids := members(group):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    with contextlib.suppress(OSError):
        group.rmdir()
    return not group.exists()


def _uid_processes() -> int:
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += 1
    return count


def _nproc_fallback(maximum: int) -> PidsLimit:
    prlimit = shutil.which("prlimit")
    if os.geteuid() == 0:
        return PidsLimit("none (no writable pids cgroup, and RLIMIT_NPROC does not bind root)")
    if prlimit is None:
        return PidsLimit("none (no writable pids cgroup and no prlimit binary)")
    limit = _uid_processes() + maximum
    return PidsLimit(
        f"RLIMIT_NPROC={limit} (the uid's {limit - maximum} processes + {maximum})",
        (prlimit, f"--nproc={limit}:{limit}", "--"),
    )


@contextlib.contextmanager
def pids_limit(maximum: int) -> Iterator[PidsLimit]:
    """The strongest limit available here; a cgroup is removed (emptied first) on exit."""
    group = _make_cgroup(maximum)
    if group is None:
        yield _nproc_fallback(maximum)
        return
    procs = str(group / "cgroup.procs")
    try:
        yield PidsLimit(
            f"cgroup pids.max={maximum}", ("/bin/sh", "-c", JOIN_THEN_EXEC, procs), group
        )
    finally:
        empty_and_remove(group)
