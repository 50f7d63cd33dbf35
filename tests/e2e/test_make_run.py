"""``make run``'s stack end to end: beat tick -> dispatch -> worker -> PR on the local forge.

Runs scripts/devrun.py exactly as ``make run`` does (own redis-server, control
plane on SQLite, Celery workers, beat, Flower, local executor and forge) with a
short schedule, then checks the PR, the events, a second tick that skips on
``Open PRs: 1/1``, ``leviathan status`` from a second terminal, and that
SIGTERM stops every process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.servers import wait_for as poll

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def wait_for(predicate: Callable[[], object], timeout: float, what: str, log: Path) -> object:
    """Poll as the shared helper does; on a timeout show the supervisor's output."""
    try:
        return poll(predicate, what, timeout, interval=0.5)
    except AssertionError:
        pytest.fail(f"timed out waiting for {what}; output:\n{log.read_text()[-6000:]}")


def children_of(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().split()[2] != "Z"


@pytest.mark.timeout(240)
def test_make_run_opens_a_pr_and_then_skips(tmp_path: Path) -> None:
    port, flower = free_port(), free_port()
    log = tmp_path / "devrun.log"
    proc, _ = start_supervisor(
        tmp_path,
        tmp_path / ".leviathan-run",
        log,
        port=port,
        flower=flower,
        schedule_seconds="3",
        new_session=False,
    )
    try:

        def text() -> str:
            return log.read_text(errors="replace")

        wait_for(lambda: "✅ Worker Complete" in text(), 150, "the first PR", log)
        done_at = text().index("✅ Worker Complete")
        wait_for(
            lambda: "✗ No task selected: max_open_prs" in text()[done_at:],
            60,
            "a tick after the PR that skips",
            log,
        )
        output = text()
        for line in (
            "Open PRs: 0/1",
            "→ Selected task: getting-started-guide",
            "Attempt number: 1/2",
            "✓ Worker job submitted:",
            "Open PRs: 1/1",
            "✓ PR created: file://",
        ):
            assert line in output, line
        headers = {"Authorization": "Bearer dev-token"}
        base = f"http://127.0.0.1:{port}"
        summary = httpx.get(f"{base}/v1/graph/summary", headers=headers, timeout=10).json()
        attempts = httpx.get(
            f"{base}/v1/attempts", params={"target": "demo"}, headers=headers, timeout=10
        ).json()["attempts"]
        succeeded = [a for a in attempts if a["status"] == "succeeded"]
        assert len(succeeded) == 1
        assert succeeded[0]["task_id"] == "getting-started-guide"
        assert succeeded[0]["pr_url"]
        timeline = httpx.get(
            f"{base}/v1/attempts/{succeeded[0]['attempt_id']}", headers=headers, timeout=10
        ).json()
        types = [e["event"]["type"] for e in timeline["events"]]
        for expected in (
            "attempt.created",
            "attempt.dispatched",
            "attempt.started",
            "pr.created",
            "attempt.succeeded",
        ):
            assert expected in types
        assert summary["nodes_by_type"]["PullRequest"] == 1
        # The PR carries the page the task asks for, not only a proposal.
        origin = tmp_path / ".leviathan-run" / "demo" / "origin.git"
        branch = succeeded[0]["branch"]
        page = subprocess.run(
            ["git", "--git-dir", str(origin), "show", f"{branch}:docs/getting-started.md"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert page.returncode == 0, page.stderr
        assert page.stdout.startswith("# Write a getting-started guide\n")
        assert "- [ ] docs/getting-started.md explains how to install" in page.stdout
        # A second terminal has none of the demo's variables: `.leviathan-run/env` has them.
        status = subprocess.run(
            [str(BIN / "leviathan"), "status", "--json"],
            cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if not k.startswith("LEVIATHAN_")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        (row,) = json.loads(status.stdout)["targets"]
        assert row["target_id"] == "demo"
        assert row["next_tick"] == "every 3s (LEVIATHAN_SCHEDULE_SECONDS)"
        kids = children_of(proc.pid)
        assert len(kids) >= 6
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    assert not [k for k in kids if alive(k)]


def log_text(log: Path) -> str:
    return log.read_text(errors="replace")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_supervisor(
    tmp_path: Path,
    run_dir: Path,
    log: Path,
    *,
    port: int | None = None,
    flower: int | None = None,
    schedule_seconds: str = "600",
    new_session: bool = True,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """``make run``'s supervisor (by default in its own session, as a terminal runs it)."""
    flower = flower or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIATHAN_")}
    env.update(
        LEVIATHAN_RUN_DIR=str(run_dir),
        LEVIATHAN_PORT=str(port or free_port()),
        LEVIATHAN_FLOWER_PORT=str(flower),
        LEVIATHAN_SCHEDULE_SECONDS=schedule_seconds,
        **(extra_env or {}),
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/devrun.py")],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    return proc, flower


def stack_ports(run_dir: Path, flower: int) -> list[int]:
    """The control plane's, Flower's and redis-server's ports, from the run's settings."""
    env = dict(line.split("=", 1) for line in (run_dir / "env").read_text().splitlines())
    redis_port = int(env["LEVIATHAN_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    cp_port = int(env["LEVIATHAN_CONTROL_PLANE_URL"].rsplit(":", 1)[1])
    return [cp_port, flower, redis_port]


def started(proc: subprocess.Popen[bytes], flower: int, log: Path) -> list[int]:
    """Wait until all six processes run (Flower, the last, listens); return their pids."""
    wait_for(lambda: port_open(flower) and len(children_of(proc.pid)) >= 6, 150, "the stack", log)
    return children_of(proc.pid)


def stop_group(proc: subprocess.Popen[bytes], kids: list[int]) -> None:
    """Clean up after a failed test: the supervisor's group and any orphan."""
    for pid in [proc.pid, *kids]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


@pytest.mark.timeout(240)
def test_sighup_stops_everything_and_a_second_run_refuses(tmp_path: Path) -> None:
    run_dir = tmp_path / ".leviathan-run"
    first, flower = start_supervisor(tmp_path, run_dir, tmp_path / "first.log")
    kids: list[int] = []
    try:
        kids = started(first, flower, tmp_path / "first.log")
        ports = stack_ports(run_dir, flower)
        wait_for(
            lambda: re.search(r"flower \|.*Connected to redis", log_text(tmp_path / "first.log")),
            30,
            "Flower to connect",
            tmp_path / "first.log",
        )
        time.sleep(2)  # Flower inspects the workers with a 1 s timeout once connected
        output = (tmp_path / "first.log").read_text()
        for noise in ("\x1b[", "leviathan.control_plane.access", "superuser", "Inspect method"):
            assert noise not in output, noise  # a pipe gets no colour, the demo no noise
        second, _ = start_supervisor(tmp_path, run_dir, tmp_path / "second.log")
        try:
            code = second.wait(30)
        except subprocess.TimeoutExpired:
            stop_group(second, children_of(second.pid))
            pytest.fail("a second supervisor on the same run directory started a second stack")
        said = (tmp_path / "second.log").read_text()
        assert code != 0
        assert f"already running (pid {first.pid})" in said, said
        assert first.poll() is None
        os.kill(first.pid, signal.SIGHUP)  # the terminal closed
        first.wait(40)
        wait_for(
            lambda: not [k for k in kids if alive(k)],
            20,
            "every process to stop",
            tmp_path / "first.log",
        )
        assert not [p for p in ports if port_open(p)]
    finally:
        stop_group(first, kids)


@pytest.mark.timeout(240)
def test_a_killed_supervisor_takes_every_process_with_it(tmp_path: Path) -> None:
    run_dir = tmp_path / ".leviathan-run"
    proc, flower = start_supervisor(tmp_path, run_dir, tmp_path / "run.log")
    kids: list[int] = []
    try:
        kids = started(proc, flower, tmp_path / "run.log")
        ports = stack_ports(run_dir, flower)
        proc.kill()  # no handler runs: only the parent-death signal can stop the children
        proc.wait(10)
        wait_for(
            lambda: not [k for k in kids if alive(k)],
            30,
            "every process to stop",
            tmp_path / "run.log",
        )
        assert not [p for p in ports if port_open(p)]
    finally:
        stop_group(proc, kids)
