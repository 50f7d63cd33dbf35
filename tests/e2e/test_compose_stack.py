"""docker-compose.yml's own commands and environment, run as plain processes.

No Docker engine exists here, so this starts what each compose service would
run (command and environment read from the compose file, service host names
and volumes pointed at local equivalents) and watches one tick go from beat
through the scheduler and dispatcher to a pull request on a local target. If
a command, an entry point or a variable in the compose file rots, this fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.compose_stack import ServiceProcess, load_stack, start_order
from tests.support.gitrepo import make_target_repo
from tests.support.servers import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOKEN = "compose-token"
BACKLOG = """\
tasks:
  - id: compose-guide
    title: Write the compose guide
    ready: true
    allowed_paths: [docs/compose.md]
    acceptance_criteria: [It explains docker compose up]
"""
# Images that are not ours: replaced by a local equivalent or not needed.
EXTERNAL = {"redis", "postgres"}


def demo_config(tmp: Path, bare: Path, cp_port: int) -> Path:
    config = tmp / "compose-demo.yaml"
    base = (ROOT / "ops/autonomy/compose/dev.yaml").read_text()
    overrides = {
        "target_id": "demo",
        "target_repo_url": f"file://{bare}",
        "control_plane_url": f"http://127.0.0.1:{cp_port}",
        "workspace_dir": str(tmp / "workspace"),
    }
    lines = [
        line
        for line in base.splitlines()
        if line.split(":", 1)[0] not in {*overrides, "forge", "local_forge_dir"}
    ]
    lines += [f"{k}: {v}" for k, v in overrides.items()]
    lines += ["forge: local", f"local_forge_dir: {tmp / 'forge'}"]
    config.write_text("\n".join(lines) + "\n")
    return config


def local_argv(service: ServiceProcess, ports: dict[str, int]) -> list[str]:
    """Loopback instead of 0.0.0.0 and free ports instead of the fixed container ports."""
    argv = []
    for arg in service.command:
        arg = arg.replace("0.0.0.0", "127.0.0.1")
        if service.name == "control-plane" and arg == "8000":
            arg = str(ports["control-plane"])
        if service.name == "flower" and arg == "--port=5555":
            arg = f"--port={ports['flower']}"
        argv.append(arg)
    exe = BIN / argv[0]
    assert exe.exists(), f"services.{service.name}: {argv[0]} is not installed in {BIN}"
    return [str(exe), *argv[1:]]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.mark.timeout(240)
def test_compose_services_run_one_tick_to_a_pr(tmp_path: Path, redis: RedisServer) -> None:
    ports = {"control-plane": free_port(), "flower": free_port()}
    bare = make_target_repo(tmp_path, BACKLOG, {"docs/index.md": "# Docs\n"})
    config = demo_config(tmp_path, bare, ports["control-plane"])
    env = {"LEVIATHAN_CONTROL_PLANE_TOKEN": TOKEN, "LEVIATHAN_COMPOSE_CONFIG": str(config)}
    stack = load_stack(ROOT / "docker-compose.yml", env=env, profiles=[])
    hosts = {
        "redis": f"127.0.0.1:{redis.port}",
        "control-plane": f"127.0.0.1:{ports['control-plane']}",
    }
    volumes = tmp_path / "volumes"
    for name in ("local-runs", "scheduler-data", "dispatcher-data"):
        (volumes / name).mkdir(parents=True)
    # /data/runs is the shared local-runs volume inside both containers.
    for owner in ("scheduler-data", "dispatcher-data"):
        (volumes / owner / "runs").symlink_to(volumes / "local-runs")
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIATHAN_")}
    try:
        for name in start_order(stack):
            if name in EXTERNAL:
                continue
            service = stack[name].localized(hosts, volumes)
            for mount in service.mounts:
                if not mount.bind:
                    (volumes / mount.source).mkdir(parents=True, exist_ok=True)
            proc_env = {**base_env, **service.environment, "LEVIATHAN_SCHEDULE_SECONDS": "3"}
            argv = local_argv(service, ports)
            with (logs / f"{name}.log").open("wb") as out:
                proc = subprocess.Popen(
                    argv,
                    env=proc_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=tmp_path,
                )
            if stack[name].image and name.endswith("-migrate"):
                assert proc.wait(120) == 0, (logs / f"{name}.log").read_text()
                continue
            procs.append((name, proc))
            if name == "control-plane":
                wait_http(f"http://127.0.0.1:{ports['control-plane']}/readyz", logs, name)
        assert {n for n, _ in procs} == {
            "control-plane",
            "scheduler-beat",
            "scheduler-worker",
            "dispatcher",
            "flower",
        }
        attempt = wait_succeeded(ports["control-plane"], logs)
        assert attempt["task_id"] == "compose-guide"
        assert attempt["pr_url"].startswith("file://")
        wait_http(f"http://127.0.0.1:{ports['flower']}/healthcheck", logs, "flower")
        for name, proc in procs:
            assert proc.poll() is None, f"{name} exited: {(logs / f'{name}.log').read_text()}"
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def wait_http(url: str, logs: Path, name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} never answered 200:\n{(logs / f'{name}.log').read_text()[-4000:]}")


def wait_succeeded(port: int, logs: Path, timeout: float = 150) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"http://127.0.0.1:{port}/v1/attempts"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attempts = httpx.get(url, params={"target": "demo"}, headers=headers, timeout=5).json()
        done = [a for a in attempts["attempts"] if a["status"] in ("succeeded", "failed")]
        if done:
            assert done[0]["status"] == "succeeded", done[0]
            return dict(done[0])
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs.iterdir())
    pytest.fail(f"no attempt finished within {timeout}s\n{tails}")
