"""``make run``: the whole Leviathan loop on one machine, offline.

Starts redis-server (unless LEVIATHAN_REDIS_URL names one), the control plane
on SQLite, a Celery worker for each queue, beat with a short demo schedule and
Flower, against a demo target (a local bare repository and a local forge),
all under this one supervisor: output is prefixed by process name, and
SIGINT/SIGTERM (Ctrl-C) stops every process it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_target import ensure_demo_repo

BIN = Path(sys.executable).parent
COLORS = ["36", "33", "35", "32", "34", "31", "96"]


@dataclass
class Proc:
    name: str
    argv: list[str]
    ready: Callable[[], bool] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - local URL
                return bool(response.status == 200)
        except OSError:
            return False

    return check


def write_config(run_dir: Path, bare: Path, port: int) -> Path:
    config_dir = run_dir / "autonomy"
    config_dir.mkdir(parents=True, exist_ok=True)
    config = config_dir / "demo.yaml"
    if config.exists():
        return config
    config.write_text(
        "# The demo target of `make run` (generated; edit freely, it is kept).\n"
        "target_id: demo\n"
        f"target_repo_url: file://{bare}\n"
        "target_branch: main\n"
        "allowed_path_prefixes: [.leviathan/, docs/]\n"
        "max_open_prs: 1\nmax_running_attempts: 1\nmax_attempts_per_task: 2\n"
        "circuit_breaker_failures: 2\n"
        'schedule_cron: "* * * * *"\n'
        "attempt_timeout_seconds: 300\n"
        f"control_plane_url: http://127.0.0.1:{port}\n"
        "worker_image: leviathan-worker:local\nworker_namespace: leviathan\n"
        f"workspace_dir: {run_dir / 'workspace'}\n"
        "executor: local\nforge: local\n"
        f"local_forge_dir: {run_dir / 'forge'}\n"
    )
    return config


def environment(
    run_dir: Path, config: Path, port: int, redis_url: str, token: str
) -> dict[str, str]:
    settings = {
        "LEVIATHAN_CONFIG": str(config),
        "LEVIATHAN_REDIS_URL": redis_url,
        "LEVIATHAN_CONTROL_PLANE_URL": f"http://127.0.0.1:{port}",
        "LEVIATHAN_CONTROL_PLANE_TOKEN": token,
        "LEVIATHAN_DATA_DIR": str(run_dir / "data"),
        "LEVIATHAN_CACHE_DIR": str(run_dir / "cache"),
        "LEVIATHAN_DATABASE_URL": f"sqlite:///{run_dir / 'data' / 'control-plane.db'}",
        # In the file too, so `leviathan status` shows the ticks beat really sends.
        "LEVIATHAN_SCHEDULE_SECONDS": os.environ.get("LEVIATHAN_SCHEDULE_SECONDS", "20"),
    }
    for folder in ("data", "cache", "workspace", "forge"):
        (run_dir / folder).mkdir(parents=True, exist_ok=True)
    (run_dir / "env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return settings


class Supervisor:
    """Start processes in order, prefix their output, stop them all together."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[Proc] = []
        self.stopping = threading.Event()

    def pump(self, proc: Proc, color: str) -> None:
        assert proc.popen is not None and proc.popen.stdout is not None
        for raw in proc.popen.stdout:
            line = raw.decode(errors="replace").rstrip()
            print(f"\x1b[{color}m{proc.name:>16} |\x1b[0m {line}", flush=True)

    def start(self, proc: Proc, timeout: float = 60) -> None:
        color = COLORS[len(self.procs) % len(COLORS)]
        proc.popen = subprocess.Popen(
            proc.argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        threading.Thread(target=self.pump, args=(proc, color), daemon=True).start()
        deadline = time.monotonic() + timeout
        while proc.ready is not None and not proc.ready():
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} did not become ready")
            if self.stopping.wait(0.1):
                return

    def watch(self) -> int:
        while not self.stopping.wait(0.5):
            for proc in self.procs:
                if proc.popen is not None and proc.popen.poll() is not None:
                    print(
                        f"{proc.name} exited with {proc.popen.returncode}; stopping all", flush=True
                    )
                    return 1
        return 0

    def stop(self) -> None:
        self.stopping.set()
        for proc in reversed(self.procs):
            if proc.popen is not None and proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()


def plan(
    run_dir: Path, env: dict[str, str], port: int, flower_port: int, own_redis: int | None
) -> list[Proc]:
    celery = [str(BIN / "celery"), "-A", "leviathan_scheduler.celery_app"]
    quiet = ["--without-mingle", "--without-gossip", "--loglevel", "INFO"]
    procs = []
    if own_redis is not None:
        exe = shutil.which("redis-server") or str(BIN / "redis-server")
        procs.append(
            Proc(
                "redis",
                [
                    exe,
                    "--port",
                    str(own_redis),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                ready=lambda: port_open(own_redis),
            )
        )
    procs += [
        Proc(
            "control-plane",
            [str(BIN / "leviathan-control-plane"), "--host", "127.0.0.1", "--port", str(port)],
            ready=http_ok(f"http://127.0.0.1:{port}/readyz"),
        ),
        Proc(
            "scheduler",
            [
                *celery,
                "worker",
                "-Q",
                "leviathan.scheduler",
                "-n",
                "scheduler@%h",
                "--pool",
                "solo",
                "-E",
                *quiet,
            ],
        ),
        Proc("dispatcher", [str(BIN / "leviathan-dispatcher")]),
        Proc("beat", [*celery, "beat", "-s", str(run_dir / "beat-schedule"), "--loglevel", "INFO"]),
        Proc("flower", [*celery, "flower", f"--port={flower_port}", "--address=127.0.0.1"]),
    ]
    return procs


def main() -> int:
    run_dir = Path(os.environ.get("LEVIATHAN_RUN_DIR", ".leviathan-run")).resolve()
    port = int(os.environ.get("LEVIATHAN_PORT", "8000"))
    flower_port = int(os.environ.get("LEVIATHAN_FLOWER_PORT", "5555"))
    token = os.environ.get("LEVIATHAN_CONTROL_PLANE_TOKEN", "dev-token")
    for name, value in (("LEVIATHAN_PORT", port), ("LEVIATHAN_FLOWER_PORT", flower_port)):
        if port_open(value):
            print(f"error: port {value} is in use; set {name} to a free port", file=sys.stderr)
            return 2
    own_redis = None if os.environ.get("LEVIATHAN_REDIS_URL") else free_port()
    redis_url = os.environ.get("LEVIATHAN_REDIS_URL") or f"redis://127.0.0.1:{own_redis}/0"
    bare = ensure_demo_repo(run_dir / "demo")
    config = write_config(run_dir, bare, port)
    settings = environment(run_dir, config, port, redis_url, token)
    env = {
        **os.environ,
        **settings,
        "FLOWER_UNAUTHENTICATED_API": "true",
        "PYTHONUNBUFFERED": "1",
    }
    supervisor = Supervisor(env)
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stopping.set())
    print(
        f"Leviathan demo: target 'demo' ({bare}), control plane http://127.0.0.1:{port} "
        f"(token {token!r}), Flower http://127.0.0.1:{flower_port}; settings in "
        f"{run_dir / 'env'}. Ctrl-C stops everything.",
        flush=True,
    )
    code = 0
    try:
        for proc in plan(run_dir, env, port, flower_port, own_redis):
            if supervisor.stopping.is_set():
                break
            supervisor.start(proc)
        code = supervisor.watch()
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        supervisor.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
