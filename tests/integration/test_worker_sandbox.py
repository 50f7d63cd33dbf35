"""The command engine's sandbox with the real bwrap and real processes.

Each test asserts something that fails without its protection. The attempt
layout lives under /var/tmp, not /tmp: the sandbox's private /tmp would hide
a /tmp layout anyway and make the hidden-path checks vacuous.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from leviathan_core.backlog import parse_task
from leviathan_worker.engines import ChangeContext, EngineError
from leviathan_worker.engines.command import OUTPUT_PREFIX, CommandEngine
from leviathan_worker.pids_limit import members
from leviathan_worker.sandbox import sandbox_unavailable

CANARY = "ghp_SANDBOX_CANARY_5f1c9e"
UNLISTED_CANARY = "sk-SANDBOX_CANARY_not_in_ctx_secrets"  # a key the worker does not know
BACKLOG = "tasks:\n  - id: t1\n    title: Probe\n    ready: true\n"
PYTHON = "/usr/bin/python3"  # the worker's own python may live under a hidden HOME
PIDS_ROOT = Path("/sys/fs/cgroup/pids")


@dataclass
class Attempt:
    root: Path
    ctx: ChangeContext
    lines: list[str]
    hidden: list[Path]

    def engine(self, script: str, timeout: float = 30, **options: object) -> CommandEngine:
        options.setdefault("hidden", self.hidden)
        return CommandEngine(["sh", "-c", script], timeout, **options)  # type: ignore[arg-type]

    def run(self, script: str, **options: object) -> list[str]:
        """Run ``script`` in the sandbox; its output lines, unprefixed."""
        self.engine(script, **options).apply(self.ctx)
        return [line.removeprefix(OUTPUT_PREFIX) for line in self.lines if OUTPUT_PREFIX in line]


@pytest.fixture(autouse=True)
def _sandbox_here() -> None:
    if reason := sandbox_unavailable():
        pytest.skip(f"no sandbox here: {reason} (run scripts/install-system-deps.sh)")


@pytest.fixture
def attempt(monkeypatch: pytest.MonkeyPatch) -> Iterator[Attempt]:
    """A worker's layout with canaries in every private place and in its environment."""
    root = Path(tempfile.mkdtemp(prefix="leviathan-sandbox-test-", dir="/var/tmp")).resolve()
    workspace, data, cache, home = (root / n for n in ("workspace", "data", "cache", "home"))
    checkout, scratch = workspace / "a1" / "checkout", workspace / "a1" / "scratch"
    for folder in (checkout / ".leviathan", checkout / ".git", scratch, cache, home):
        folder.mkdir(parents=True)
    (checkout / ".leviathan" / "backlog.yaml").write_text(BACKLOG)
    for canary_file in (
        workspace / "a0" / "publisher" / "token.txt",  # a sibling attempt / private clone
        data / "spool" / "events.jsonl",
        home / ".config" / "gh" / "hosts.yml",
    ):
        canary_file.parent.mkdir(parents=True, exist_ok=True)
        canary_file.write_text(CANARY)
    for name in ("GITHUB_TOKEN", "LEVIATHAN_CONTROL_PLANE_TOKEN"):
        monkeypatch.setenv(name, CANARY)
    monkeypatch.setenv("OPENAI_API_KEY", UNLISTED_CANARY)
    lines: list[str] = []
    ctx = ChangeContext(
        checkout=checkout, scratch=scratch,
        task=parse_task(0, {"id": "t1", "title": "Probe", "ready": True}),
        task_id="t1", attempt_id="attempt-t1-1", branch="agent/x", prefixes=[".leviathan/"],
        say=lines.append, secrets=(CANARY,),
    )  # fmt: skip
    yield Attempt(root, ctx, lines, [workspace, data, cache, home])
    shutil.rmtree(root, ignore_errors=True)


def test_the_environment_holds_no_secret(attempt: Attempt) -> None:
    out = attempt.run("env; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'")
    assert "SANDBOX_CANARY" not in "\n".join(out)
    assert f"HOME={attempt.ctx.scratch}" in out and "TMPDIR=/tmp" in out
    assert "LEVIATHAN_TASK=t1" in out


def test_the_workers_processes_are_invisible(attempt: Attempt) -> None:
    worker = os.getpid()
    out = attempt.run(
        "ls /proc | grep '^[0-9]' | tr '\\n' ' '; echo; "
        f"cat /proc/{worker}/environ /proc/{worker}/cmdline || echo unreachable"
    )
    visible = [int(p) for p in out[0].split()]
    assert max(visible) < 10 and worker not in visible  # bwrap's init, sh, ls, grep, tr
    assert "SANDBOX_CANARY" not in "\n".join(out) and "unreachable" in out


def test_the_worker_cannot_be_traced(attempt: Attempt) -> None:
    if not Path(PYTHON).exists():
        pytest.skip(f"{PYTHON} is needed inside the sandbox")
    attach = (
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
        f"print('ptrace', libc.ptrace(16, {os.getpid()}, 0, 0), ctypes.get_errno())"
    )
    out = attempt.run(f'{PYTHON} -c "{attach}"')
    assert "ptrace -1 3" in out  # ESRCH: no such process in its pid namespace


def test_the_workers_private_paths_are_hidden(attempt: Attempt) -> None:
    root = attempt.root
    out = attempt.run(
        f"cat {root}/workspace/a0/publisher/token.txt {root}/data/spool/events.jsonl "
        f"{root}/home/.config/gh/hosts.yml 2>&1; echo workspace: $(ls -A {root}/workspace); "
        "echo run: $(ls -A /run 2>/dev/null)"
    )
    assert CANARY not in "\n".join(out)
    assert "workspace: a1" in out  # only the re-opened checkout and scratch
    assert "run:" in out


def test_writes_only_in_the_checkout_scratch_and_a_private_tmp(attempt: Attempt) -> None:
    probe = f"leviathan-probe-{os.getpid()}"
    out = attempt.run(
        f"touch {attempt.root}/outside 2>/dev/null || echo outside-refused; "
        f"echo $$ > {PIDS_ROOT}/cgroup.procs 2>/dev/null || echo cgroup-refused; "
        "touch ../beside 2>/dev/null || echo beside-refused; "
        f"touch /tmp/{probe} && echo tmp-ok; touch changed $HOME/scratch-file && echo ok"
    )
    assert {"outside-refused", "beside-refused", "cgroup-refused", "tmp-ok", "ok"} <= set(out)
    assert not (attempt.root / "outside").exists()
    assert not (Path("/tmp") / probe).exists()  # the sandbox's /tmp was its own
    assert (attempt.ctx.checkout / "changed").exists()
    assert (attempt.ctx.scratch / "scratch-file").exists()


def test_it_runs_as_uid_65534(attempt: Attempt) -> None:
    assert attempt.run("id -u; id -g")[:2] == ["65534", "65534"]


@contextlib.contextmanager
def listener() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


CONNECT = "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null && echo connected || echo no"


def test_no_network_by_default(attempt: Attempt) -> None:
    with listener() as port:
        assert attempt.run(CONNECT.format(port=port))[0] == "no"


def test_network_when_the_target_allows_endpoints(attempt: Attempt) -> None:
    with listener() as port:
        assert attempt.run(CONNECT.format(port=port), network=True)[0] == "connected"


def _still_touched(marker: Path) -> bool:
    """Whether something keeps rewriting ``marker`` (a surviving loop)."""
    before = marker.stat().st_mtime_ns
    time.sleep(0.5)  # a window to watch in, not a wait: a surviving loop touches it often
    return marker.stat().st_mtime_ns != before


LOOP = "while :; do touch {0}; sleep 0.05; done"


def test_daemons_die_with_the_engine(attempt: Attempt) -> None:
    setsid_marker, double_marker = (attempt.ctx.scratch / n for n in ("setsid", "double"))
    attempt.run(
        f"setsid sh -c '{LOOP.format(setsid_marker)}' >/dev/null 2>&1 & "
        f"sh -c \"(sh -c '{LOOP.format(double_marker)}' >/dev/null 2>&1 &) &\"; "
        f"while [ ! -f {setsid_marker} ] || [ ! -f {double_marker} ]; do sleep 0.01; done"
    )
    assert not _still_touched(setsid_marker)
    assert not _still_touched(double_marker)


def test_a_timeout_kills_everything(attempt: Attempt) -> None:
    marker = attempt.ctx.scratch / "marker"
    started = time.monotonic()
    with pytest.raises(EngineError, match="did not finish within 1 s"):
        attempt.run(f"setsid sh -c '{LOOP.format(marker)}' & sleep 100", timeout=1)
    assert time.monotonic() - started < 10
    assert marker.exists() and not _still_touched(marker)


def _require_pids_cgroup() -> None:
    if not os.access(PIDS_ROOT, os.W_OK):
        pytest.skip("no writable pids cgroup here: a fork bomb would be unbounded")


FORKS = """
import os, time
n = 0
for _ in range(100):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    n += 1
print("forked", n)
"""


def test_the_pids_limit_bounds_forks(attempt: Attempt) -> None:
    _require_pids_cgroup()
    if not Path(PYTHON).exists():
        pytest.skip(f"{PYTHON} is needed inside the sandbox")
    (attempt.ctx.scratch / "forks.py").write_text(FORKS)
    out = attempt.run(f"{PYTHON} $HOME/forks.py", pids_max=32)
    forked = int(next(line for line in out if line.startswith("forked")).split()[1])
    assert 20 <= forked < 32  # init, python and its children share 32
    assert any("pids limit: cgroup pids.max=32" in line for line in attempt.lines)
    assert not list(PIDS_ROOT.glob(f"leviathan-sandbox-{os.getpid()}-*"))  # removed afterwards


def test_a_fork_bomb_is_bounded(attempt: Attempt) -> None:
    _require_pids_cgroup()
    peak = 0
    refused = 0  # forks the kernel refused at pids.max (pids.events "max"), cumulative
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, refused
        while not done.is_set():
            for group in PIDS_ROOT.glob(f"leviathan-sandbox-{os.getpid()}-*"):
                peak = max(peak, len(members(group)))
                with contextlib.suppress(OSError, ValueError):
                    events = (group / "pids.events").read_text().split()
                    refused = max(refused, int(events[events.index("max") + 1]))
            time.sleep(0.01)

    watcher = threading.Thread(target=sample)
    watcher.start()
    try:
        with pytest.raises(EngineError, match="did not finish within 3 s"):
            attempt.run("bomb() { bomb | bomb & }; bomb; exec sleep 100", timeout=3, pids_max=32)
    finally:
        done.set()
        watcher.join()
    # The bomb hit the limit (the kernel refused forks) and never went past it. The
    # sampled peak is only a lower bound of the real one on a loaded machine.
    assert refused > 0, f"no fork was refused at pids.max (peak seen: {peak})"
    assert 0 < peak <= 32
    assert not list(PIDS_ROOT.glob(f"leviathan-sandbox-{os.getpid()}-*"))
