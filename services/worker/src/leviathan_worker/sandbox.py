"""Run an untrusted change engine where no secret is, with bubblewrap (``bwrap``).

The engine gets its own user, pid, mount, ipc, uts, cgroup and (unless the
target allows endpoints) network namespaces, uid/gid 65534 inside, no
capabilities, an empty environment plus an explicit allowlist, and a mount
view that is the host's root read-only, with fresh /proc, /dev and /tmp, the
worker's private directories (workspace root, data, cache, HOME, /run)
masked by empty read-only tmpfs, and only the checkout, its scratch dir and
the private /tmp writable.
The worker's processes are outside its pid namespace, so their /proc
entries (environ, cmdline) cannot be listed, read or traced. When the
engine's first process ends, or bwrap is killed, the namespace's init dies
and the kernel kills everything left in it, daemons included.

bubblewrap rather than unshare/setpriv: one audited, widely used tool that
builds the whole mount view, clears the environment, drops capabilities and
ties the sandbox's life to its parent (``--die-with-parent``), without
being setuid (it uses unprivileged user namespaces).

Not hidden: /etc (resolver and CA files; it holds no Leviathan secret) and
the rest of the root filesystem, read-only. The namespace maps uid 65534
to the worker's own uid, so to the kernel the engine *is* that uid without
capabilities: a file elsewhere that only the worker's uid can read stays
readable unless a hidden path covers it. Same kernel as the worker.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from leviathan_worker.pids_limit import pids_limit

NOBODY: Final = 65534
DEFAULT_PIDS_MAX: Final = 256
# Hidden on every run: sockets (a container runtime's, a database's) and
# runtime secrets live there, and a socket on a read-only mount still connects.
ALWAYS_HIDDEN: Final = (Path("/run"),)
RESOLV_CONF: Final = Path("/etc/resolv.conf")
_MINIMAL_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
_PIPE_ROOM: Final = 60_000  # below Linux's smallest default pipe buffer (64 KiB)


class SandboxTimeout(Exception):
    """The sandboxed program did not finish in time; everything in it was killed."""


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """What the engine may see and do; paths absolute and already resolved."""

    checkout: Path
    scratch: Path
    hidden: tuple[Path, ...] = ()
    readonly: tuple[Path, ...] = ()  # re-opened read-only after the hides (resolv.conf)
    network: bool = False
    pids_max: int = DEFAULT_PIDS_MAX
    uid: int = NOBODY
    gid: int = NOBODY


@dataclass(frozen=True, slots=True)
class SandboxRun:
    code: int
    pids_limit: str


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _check(spec: SandboxSpec) -> None:
    writable = (spec.checkout, spec.scratch)
    for path in (*writable, *spec.hidden, *spec.readonly):
        if not path.is_absolute():
            raise ValueError(f"sandbox path {path} is not absolute")
    for path in writable:
        if path == Path("/"):
            raise ValueError("the sandbox cannot make / writable")
    for hidden in spec.hidden:
        if hidden == Path("/"):
            raise ValueError("hiding / would hide everything the engine needs")
        if any(_within(hidden, path) for path in writable):
            raise ValueError(f"hidden path {hidden} lies inside the checkout or scratch dir")


def bwrap_argv(
    spec: SandboxSpec,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    bwrap: str = "bwrap",
    info_fd: int | None = None,
    args_fd: int | None = None,
) -> list[str]:
    """The bwrap command line.

    Hides come before the binds that re-open paths inside them, and each hiding
    tmpfs is made read-only after them. With ``args_fd`` the environment is not
    on the command line (which any local user can read in /proc): bwrap reads
    it from that descriptor (``env_args``).
    """
    _check(spec)
    out = [bwrap, "--unshare-all", *(["--share-net"] if spec.network else [])]
    out += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
    out += ["--uid", str(spec.uid), "--gid", str(spec.gid)]
    if info_fd is not None:
        out += ["--info-fd", str(info_fd)]
    out += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in spec.hidden:
        out += ["--tmpfs", str(path)]
    for path in spec.readonly:
        out += ["--ro-bind", str(path), str(path)]
    for path in (spec.checkout, spec.scratch):
        out += ["--bind", str(path), str(path)]
    for path in spec.hidden:  # read-only once the binds inside exist: no writes beside them
        out += ["--remount-ro", str(path)]
    out += ["--chdir", str(spec.checkout)]
    if args_fd is not None:
        out += ["--args", str(args_fd)]
    else:
        for name, value in env.items():
            out += ["--setenv", name, value]
    return [*out, "--", *argv]


def env_args(env: Mapping[str, str]) -> bytes:
    """``env`` as the NUL-separated ``--setenv`` arguments bwrap reads from ``--args``."""
    if any("\0" in part for item in env.items() for part in item):
        raise ValueError("an environment variable holds a NUL byte")
    return b"".join(f"--setenv\0{name}\0{value}\0".encode() for name, value in env.items())


def existing_hidden(paths: Iterable[Path]) -> tuple[Path, ...]:
    """Resolved, existing, de-duplicated paths to hide, plus ALWAYS_HIDDEN.

    ``/`` (e.g. HOME=/ in a container) is dropped: it cannot be hidden.
    """
    resolved = {Path(os.path.realpath(p)) for p in (*ALWAYS_HIDDEN, *paths)} - {Path("/")}
    present = sorted(p for p in resolved if p.exists())
    return tuple(p for p in present if not any(q in p.parents for q in present))


def reopened(hidden: Sequence[Path]) -> tuple[Path, ...]:
    """resolv.conf's target when a hidden path covers it (e.g. systemd-resolved's /run)."""
    target = Path(os.path.realpath(RESOLV_CONF))
    covered = target.exists() and any(target.is_relative_to(h) for h in hidden)
    return (target,) if covered else ()


@functools.cache
def sandbox_unavailable() -> str | None:
    """None when a sandbox can be made here, else why not (probed once per process)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    with tempfile.TemporaryDirectory(prefix="leviathan-probe-") as tmp:
        spec = SandboxSpec(checkout=Path(tmp).resolve(), scratch=Path(tmp).resolve())
        try:
            done = subprocess.run(
                bwrap_argv(spec, ["true"], {}, bwrap=bwrap),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap cannot run: {exc}"
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or [f"status {done.returncode}"])[-1]
        return f"bwrap cannot create namespaces here (user namespaces refused?): {detail}"
    return None


def _relay(stream: IO[str], on_line: Callable[[str], None]) -> None:
    for line in stream:
        on_line(line.rstrip("\n"))


def _namespace_init(info: int) -> int | None:
    """The outer pid of the sandbox's pid-namespace init, from bwrap's --info-fd."""
    os.set_blocking(info, False)
    try:
        with os.fdopen(info, "rb", closefd=False) as raw:
            pid = json.loads(raw.read() or b"{}").get("child-pid")
    except (OSError, ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) else None


def _wait_gone(pid: int, wait_seconds: float = 10.0) -> None:
    """Until ``pid`` is gone or a zombie: by then its pid namespace is empty."""
    deadline = time.monotonic() + wait_seconds
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return
        except (OSError, IndexError):
            return
        time.sleep(0.005)


def run_sandboxed(
    spec: SandboxSpec,
    argv: Sequence[str],
    env: Mapping[str, str],
    timeout: float,
    on_line: Callable[[str], None],
) -> SandboxRun:
    """Run ``argv`` in the sandbox; every process it started is dead when this returns.

    Raises OSError when bwrap cannot be started, SandboxTimeout on timeout.
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    args = _filled_pipe(env_args(env))
    info_read, info_write = os.pipe()
    try:
        with pids_limit(spec.pids_max) as limit:
            line = bwrap_argv(spec, argv, env, bwrap=bwrap, info_fd=info_write, args_fd=args)
            try:
                proc = subprocess.Popen(
                    [*limit.prefix, *line],
                    env={"PATH": _MINIMAL_PATH},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    errors="replace",
                    start_new_session=True,
                    pass_fds=(info_write, args),
                )
            finally:
                os.close(info_write)
                os.close(args)
                info_write = args = -1
            code = _supervise(proc, timeout, on_line)
            init = _namespace_init(info_read)
            if init is not None:
                _wait_gone(init)
    finally:
        for fd in (info_read, info_write, args):
            if fd >= 0:
                os.close(fd)
    if code is None:
        raise SandboxTimeout(f"did not finish within {timeout:g} s")
    return SandboxRun(code, limit.description)


def _filled_pipe(data: bytes) -> int:
    """A pipe's read end holding ``data`` (written whole, then closed for writing)."""
    if len(data) > _PIPE_ROOM:
        raise ValueError(f"the environment is larger than {_PIPE_ROOM} bytes")
    read, write = os.pipe()
    try:
        with os.fdopen(write, "wb") as sink:  # fits the pipe's buffer: never blocks
            sink.write(data)
    except BaseException:
        os.close(read)
        raise
    return read


def _supervise(
    proc: subprocess.Popen[str], timeout: float, on_line: Callable[[str], None]
) -> int | None:
    """Relay output, wait, then SIGKILL bwrap's process group; None on timeout."""
    assert proc.stdout is not None
    reader = threading.Thread(target=_relay, args=(proc.stdout, on_line), daemon=True)
    reader.start()
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(5)
    return code
