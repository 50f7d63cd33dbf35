"""A real scheduler environment for integration tests.

A bare target repository on disk, the control plane under uvicorn (SQLite),
a target file using the local forge, and a given redis-server. Cycles run
in-process through ``Runtime`` (the same wiring the Celery task uses), as
``leviathan`` commands in-process (``invoke``) or as ``leviathan`` / ``celery``
subprocesses with ``env()``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from celery import Celery
from typer.testing import CliRunner, Result

from leviathan_adapters.process_settings import process_settings
from leviathan_core.config import AutonomyConfig, load_config
from leviathan_core.settings import Settings
from leviathan_scheduler.celery_app import create_app
from leviathan_scheduler.runtime import Runtime
from tests.support.control_plane import TEST_TOKEN, ControlPlane, running_control_plane
from tests.support.gitrepo import make_target_repo
from tests.support.servers import free_port, wait_for

BACKLOG = """
tasks:
  - id: fix-links
    title: Fix broken links
    ready: true
    scope: docs
    allowed_paths: [docs/README.md]
"""
BIN = Path(sys.executable).parent


@dataclass
class SchedulerStack:
    tmp: Path
    redis_url: str
    cp: ControlPlane
    repo: Path
    config_dir: Path
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    senders: list[Celery] = field(default_factory=list)

    @property
    def config_file(self) -> Path:
        return self.config_dir / "radix.yaml"

    def write_config(self, target: str = "radix", **overrides: Any) -> AutonomyConfig:
        """Write ``<target>.yaml`` (keeping earlier overrides of that target)."""
        self.overrides[target] = self.overrides.get(target, {}) | overrides
        data = {
            "target_id": target,
            "target_repo_url": f"file://{self.repo}",
            "forge": "local",
            "executor": "local",
            "local_forge_dir": str(self.tmp / "forge" / target),
            "control_plane_url": self.cp.url,
            **self.overrides[target],
        }
        file = self.config_dir / f"{target}.yaml"
        file.write_text(yaml.safe_dump(data))
        return load_config(file)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "config": str(self.config_dir),
            "redis_url": self.redis_url,
            "control_plane_url": self.cp.url,
            "control_plane_token": self.cp.token,
            "data_dir": str(self.tmp / "data"),
            "cache_dir": str(self.tmp / "cache"),
            **overrides,
        }
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def sender(self, redis_url: str | None = None) -> Celery:
        app = create_app(self.settings(redis_url=redis_url or self.redis_url))
        self.senders.append(app)
        return app

    def runtime(self, *, printed: list[str] | None = None, **overrides: Any) -> Runtime:
        settings = self.settings(**overrides)
        out: Callable[[Any], None] = printed.extend if printed is not None else lambda _: None
        return Runtime(settings, self.sender(settings.redis_url).send_task, out=out)

    def env(self, **extra: str) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LEVIATHAN_", "KUBERNETES_")) and k != "GITHUB_TOKEN"
        }
        return base | {
            "LEVIATHAN_CONFIG": str(self.config_dir),
            "LEVIATHAN_REDIS_URL": self.redis_url,
            "LEVIATHAN_CONTROL_PLANE_URL": self.cp.url,
            "LEVIATHAN_CONTROL_PLANE_TOKEN": self.cp.token,
            "LEVIATHAN_DATA_DIR": str(self.tmp / "data"),
            "LEVIATHAN_CACHE_DIR": str(self.tmp / "cache"),
            "HOME": str(self.tmp),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def cli(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "leviathan"), *args],
            capture_output=True,
            text=True,
            env=self.env(**extra_env),
            cwd=self.tmp,
            timeout=120,
            check=False,
        )

    def invoke(self, *args: str) -> Result:
        """Run a ``leviathan`` command in this process (no interpreter start-up)."""
        from leviathan_scheduler.cli import app

        process_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args), env=self.env(), catch_exceptions=False)
        finally:
            process_settings.cache_clear()

    def events(self, kind: str | None = None, target: str = "radix") -> list[dict[str, Any]]:
        params: dict[str, str | int] = {"target": target, "limit": 1000}
        if kind:
            params["type"] = kind
        response = httpx.get(
            f"{self.cp.url}/v1/events",
            params=params,
            headers={"Authorization": f"Bearer {self.cp.token}"},
        )
        response.raise_for_status()
        return [stored["event"] for stored in response.json()["events"]]

    def state(self) -> dict[str, Any]:
        response = httpx.get(
            f"{self.cp.url}/v1/targets/radix/state",
            headers={"Authorization": f"Bearer {self.cp.token}"},
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@contextmanager
def scheduler_stack(
    tmp_path: Path, redis_url: str, backlog: str = BACKLOG, **config: Any
) -> Iterator[SchedulerStack]:
    config_dir = tmp_path / "autonomy"
    config_dir.mkdir(parents=True)
    repo = make_target_repo(tmp_path, backlog)
    port = free_port()  # the target file names the control plane, which reads the file
    planned = ControlPlane(f"http://127.0.0.1:{port}", TEST_TOKEN)
    stack = SchedulerStack(tmp_path, redis_url, planned, repo, config_dir)
    stack.write_config(**config)
    with running_control_plane(tmp_path / "cp", config=config_dir, port=port) as cp:
        stack.cp = cp
        try:
            yield stack
        finally:
            for app in stack.senders:
                app.close()


@dataclass(frozen=True)
class Proc:
    argv: list[str]
    log: Path
    ready: str


def _wait_ready(proc: Proc, popen: subprocess.Popen[bytes]) -> None:
    def ready() -> bool:
        return proc.ready in proc.log.read_text(errors="replace") or popen.poll() is not None

    wait_for(ready, f"{proc.argv[1:4]} to start", timeout=120)
    assert popen.poll() is None, proc.log.read_text(errors="replace")


@contextmanager
def celery_processes(
    procs: list[Proc], env: dict[str, str], cwd: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start celery workers or beat together; wait until each printed its ``ready`` line."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for proc in procs:
            with proc.log.open("wb") as out:
                started.append(
                    subprocess.Popen(
                        proc.argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
                    )
                )
        for proc, popen in zip(procs, started, strict=True):
            _wait_ready(proc, popen)
        yield started
    finally:
        for popen in started:
            popen.terminate()
        for popen in started:
            try:
                popen.wait(20)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()


def worker_argv(app: str, queue: str, name: str, *, concurrency: int = 1) -> list[str]:
    pool = (
        ["--pool=threads", f"--concurrency={concurrency}"] if concurrency > 1 else ["--pool=solo"]
    )
    return [
        str(BIN / "celery"),
        "-A",
        app,
        "worker",
        "-Q",
        queue,
        "-n",
        f"{name}@%h",
        *pool,
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]
