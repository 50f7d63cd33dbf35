"""``leviathan --help`` and ``leviathan status`` as an operator runs them (targets 0.3 s, 1 s).

Each figure is the median wall time of a fresh ``leviathan`` process: start-up
and imports are what the operator waits for, so nothing is warmed in-process;
one uncounted run first writes the bytecode cache, as any earlier run would
have on the operator's machine (PYTHONDONTWRITEBYTECODE is dropped for that).
``status`` reads a live stack (a redis-server and a control-plane process, a
local-forge target), as from a second terminal beside ``make run``; the same
command with Redis and the control plane down is informational (its time is
the clients' connection retries, not the command's).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.control_plane import ControlPlaneProcess
from tests.support.servers import RedisServer

from bench.rows import row

LEVIATHAN = str(Path(sys.executable).parent / "leviathan")


def median_seconds(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    """Median wall time of ``runs`` fresh processes after one warm-up; each must succeed."""
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return statistics.median(times[1:])


def target_file(root: Path, control_plane: str) -> Path:
    file = root / "demo.yaml"
    file.write_text(
        "target_id: demo\n"
        f"target_repo_url: file://{root / 'origin.git'}\n"
        "forge: local\nexecutor: local\n"
        f"local_forge_dir: {root / 'forge'}\n"
        f"control_plane_url: {control_plane}\n"
    )
    return file


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LEVIATHAN_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["LEVIATHAN_DATA_DIR"] = str(root / "data")
        help_s = median_seconds([LEVIATHAN, "--help"], env, root, 9)
        redis = RedisServer(root / "redis")
        plane = ControlPlaneProcess(root / "cp")
        redis.start()
        try:
            cp = plane.start()
            live = {
                **env,
                "LEVIATHAN_REDIS_URL": redis.url,
                "LEVIATHAN_CONTROL_PLANE_TOKEN": cp.token,
            }
            status = [LEVIATHAN, "status", "--config", str(target_file(root, cp.url))]
            status_s = median_seconds(status, live, root, 7)
        finally:
            plane.stop()
            redis.stop()
        down = {**env, "LEVIATHAN_REDIS_URL": "redis://127.0.0.1:1/0"}
        away = [LEVIATHAN, "status", "--config", str(target_file(root, "http://127.0.0.1:1"))]
        down_s = median_seconds(away, down, root, 3)
    return [
        row("leviathan --help", help_s, "s", 0.3),
        row("leviathan status, live redis and control plane", status_s, "s", 1.0),
        row("leviathan status, redis and control plane down", down_s, "s"),
    ]
