"""``make run``: the whole Leviathan loop on one machine, offline.

Starts redis-server (unless LEVIATHAN_REDIS_URL names one), the control plane
on SQLite, a Celery worker for each queue, beat with a short demo schedule and
Flower, against a demo target (a local bare repository and a local forge),
all under this one supervisor: output is prefixed by process name.

Every way the supervisor ends stops every process it started: Ctrl-C, SIGTERM
and SIGHUP (the terminal closed) stop them in order, and a supervisor killed
outright takes them along by a parent-death signal. One supervisor owns a run
directory at a time (a lock file holding its pid): a second one on the same
state refuses instead of starting a second stack.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import fcntl
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
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_agent import DemoAgentError, agent_environment, demo_config
from demo_target import ensure_demo_repo

BIN = Path(sys.executable).parent
COLORS = ["36", "33", "35", "32", "34", "31", "96"]
PR_SET_PDEATHSIG = 1
# The control plane's per-request JSON line: noise in a demo (``--access-log`` keeps it).
ACCESS_LOGGER = '"logger": "leviathan.control_plane.access"'
# Celery warns about root whenever uid is 0; the apps accept JSON only, so the
# pickle risk behind the warning does not apply, and containers run as root.
ROOT_WARNING = "ignore:You're running the worker with superuser privileges"


@dataclass
class Proc:
    name: str
    argv: list[str]
    ready: Callable[[], bool] | None = None
    # A worker is ready when it says so (a port says nothing about a Celery worker).
    ready_line: Callable[[str], bool] | None = None
    hide: Callable[[str], bool] | None = None
    said_ready: threading.Event = field(default_factory=threading.Event, repr=False)
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def celery_worker_ready(line: str) -> bool:
    return "@" in line and line.rstrip().endswith(" ready.")


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child SIGTERM when the supervisor dies, even by SIGKILL.

    Linux only (prctl); elsewhere the signal handlers are all there is. The
    function is resolved here, in the parent, so the child only makes two
    system calls between fork and exec.
    """
    name = ctypes.util.find_library("c")
    prctl = getattr(ctypes.CDLL(name, use_errno=True), "prctl", None) if name else None
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def lock_run_dir(run_dir: Path) -> int | None:
    """Hold ``run_dir/supervisor.lock`` for this process's life; None when another holds it.

    An flock, not just a pid file: the kernel drops it when the holder dies,
    however it dies, so a stale file never blocks the next ``make run``.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def lock_holder(run_dir: Path) -> str:
    with suppress(OSError):
        return (run_dir / "supervisor.lock").read_text().strip() or "unknown"
    return "unknown"


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
        "# Writes each docs task's page (title, description, acceptance criteria as a\n"
        "# checklist), so a PR carries the file the task asks for.\n"
        "change_engine: docs-template\n"
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

    def __init__(self, env: dict[str, str], color: bool) -> None:
        self.env = env
        self.color = color
        self.procs: list[Proc] = []
        self.stopping = threading.Event()
        self.preexec = die_with_parent()

    def pump(self, proc: Proc, color: str) -> None:
        assert proc.popen is not None and proc.popen.stdout is not None
        label = f"{proc.name:>16} |"
        if self.color:
            label = f"\x1b[{color}m{label}\x1b[0m"
        for raw in proc.popen.stdout:
            line = raw.decode(errors="replace").rstrip()
            if proc.ready_line is not None and proc.ready_line(line):
                proc.said_ready.set()
            if proc.hide is None or not proc.hide(line):
                print(f"{label} {line}", flush=True)

    def start(self, proc: Proc, timeout: float = 60) -> None:
        color = COLORS[len(self.procs) % len(COLORS)]
        proc.popen = subprocess.Popen(
            proc.argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=self.preexec,  # two system calls only: see die_with_parent
        )
        self.procs.append(proc)
        threading.Thread(target=self.pump, args=(proc, color), daemon=True).start()
        if proc.ready_line is not None:
            proc.ready = proc.said_ready.is_set
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
    run_dir: Path,
    port: int,
    flower_port: int,
    own_redis: int | None,
    access_log: bool = False,
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
            hide=None if access_log else (lambda line: ACCESS_LOGGER in line),
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
            ready_line=celery_worker_ready,
        ),
        # Beat and Flower start after both workers answer: Flower inspects them at once.
        Proc("dispatcher", [str(BIN / "leviathan-dispatcher")], ready_line=celery_worker_ready),
        Proc("beat", [*celery, "beat", "-s", str(run_dir / "beat-schedule"), "--loglevel", "INFO"]),
        Proc(
            "flower",
            [*celery, "flower", f"--port={flower_port}", "--address=127.0.0.1"],
            ready=lambda: port_open(flower_port),
        ),
    ]
    return procs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--access-log", action="store_true", help="show the control plane's line per request"
    )
    return parser.parse_args(argv)


def handle_stop_signals(stopping: threading.Event) -> None:
    """SIGTERM and SIGHUP stop everything like Ctrl-C; an ignored SIGHUP (nohup) stays ignored."""
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, lambda *_: stopping.set())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = Path(os.environ.get("LEVIATHAN_RUN_DIR", ".leviathan-run")).resolve()
    if lock_run_dir(run_dir) is None:
        print(
            f"error: make run is already running (pid {lock_holder(run_dir)}) on {run_dir}; "
            "stop it first (Ctrl-C in its terminal), or set LEVIATHAN_RUN_DIR to another "
            "directory for a second, separate stack",
            file=sys.stderr,
        )
        return 2
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
    try:
        config = demo_config(run_dir, write_config(run_dir, bare, port), os.environ)
    except DemoAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = environment(run_dir, config, port, redis_url, token)
    env = {
        **os.environ,
        **agent_environment(os.environ),
        **settings,
        "FLOWER_UNAUTHENTICATED_API": "true",
        "PYTHONUNBUFFERED": "1",
        "PYTHONWARNINGS": ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), ROOT_WARNING])),
    }
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    supervisor = Supervisor(env, color)
    handle_stop_signals(supervisor.stopping)
    print(
        f"Leviathan demo: target 'demo' ({bare}), control plane http://127.0.0.1:{port} "
        f"(token {token!r}), Flower http://127.0.0.1:{flower_port}; settings in "
        f"{run_dir / 'env'}. Ctrl-C stops everything.",
        flush=True,
    )
    code = 0
    try:
        for proc in plan(run_dir, port, flower_port, own_redis, args.access_log):
            if supervisor.stopping.is_set():
                break
            supervisor.start(proc)
        else:
            print(f"✓ all {len(supervisor.procs)} processes running", flush=True)
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
