"""The compose stack the container tier runs: docker-compose.yml plus compose.test.yml.

``start_stack`` makes the forge's repositories (the ``make run`` demo backlog
for the compose target, and any extra repositories a test asks for), writes the
target file, runs ``docker compose up -d --no-build --wait`` and returns a
``Stack`` that reads the control plane, the forge and the logs from outside.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.docker.engine import REPO, Engine
from tests.support.gitrepo import make_target_repo
from tests.support.servers import free_port

TOKEN = "tier-control-plane-token"
GITHUB_TOKEN = "ghp_tier_forge_token_0123456789"
REPO_NAME = "acme/demo"
SEED_EVENTS = {"attempt.created", "attempt.started", "pr.created", "attempt.succeeded"}
ALLOWED = (".leviathan/", "docs/")
PROJECT = "leviathan-tier"
LEVIATHAN_SERVICES = (
    "redis",
    "control-plane",
    "scheduler-beat",
    "scheduler-worker",
    "dispatcher",
    "flower",
)
T = TypeVar("T")


def demo_backlog() -> str:
    """The backlog ``make run`` uses: five tasks, one eligible at a time."""
    spec = importlib.util.spec_from_file_location("demo_target", REPO / "scripts/demo_target.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.DEMO_BACKLOG)


def target_file(config_dir: Path) -> None:
    """ops/autonomy/compose/dev.yaml pointed at the forge on the compose network."""
    overrides = {
        "target_id": "demo",
        "target_repo_url": f"http://forge:8080/{REPO_NAME}.git",
        "forge": "github",
        "github_api_url": "http://forge:8080/api/v3",
    }
    base = (REPO / "ops/autonomy/compose/dev.yaml").read_text().splitlines()
    lines = [line for line in base if line.split(":", 1)[0] not in overrides]
    lines += [f"{key}: {value}" for key, value in overrides.items()]
    config_dir.mkdir(parents=True)
    (config_dir / "demo.yaml").write_text("\n".join(lines) + "\n")


@dataclass
class Stack:
    engine: Engine
    env: dict[str, str]
    ports: dict[str, int]

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        done = self.engine.run(
            "docker",
            "compose",
            "-p",
            PROJECT,
            "-f",
            "docker-compose.yml",
            "-f",
            "tests/docker/compose.test.yml",
            *args,
            check=check,
            timeout=timeout,
            extra_env=self.env,
        )
        return done.stdout + done.stderr

    def logs(self, service: str = "", tail: int = 80) -> str:
        names = [service] if service else []
        return self.compose("logs", "--no-color", "--tail", str(tail), *names, check=False)

    def api(self, path: str, **params: Any) -> Any:
        url = f"http://127.0.0.1:{self.ports['control-plane']}{path}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = httpx.get(url, params=params, headers=headers, timeout=10)
        response.raise_for_status()
        return response.json()

    def forge(self, path: str, repo: str = REPO_NAME, **params: Any) -> Any:
        url = f"http://127.0.0.1:{self.ports['forge']}/api/v3/repos/{repo}{path}"
        headers = {"Authorization": f"token {GITHUB_TOKEN}"}
        response = httpx.get(url, params=params, headers=headers, timeout=10)
        response.raise_for_status()
        return response.json()

    def events(self) -> list[dict[str, Any]]:
        """Every stored event, following the cursor."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.api("/v1/events", limit=500, **({"cursor": cursor} if cursor else {}))
            found += page["events"]
            cursor = page.get("next_cursor")
            if not cursor or not page["events"]:
                return found

    def wait(self, what: str, probe: Callable[[], T | None], timeout: float = 240) -> T:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = probe()
                if value is not None:
                    return value
            except (httpx.HTTPError, KeyError) as exc:
                last = exc
            time.sleep(2)
        pytest.fail(f"{what}: not within {timeout:.0f} s (last error: {last})\n{self.logs()}")


def start_stack(engine: Engine, tier: Path, extra_repos: dict[str, str]) -> Stack:
    """Bring the stack up; ``extra_repos`` maps ``owner/name`` to a backlog."""
    repos = {REPO_NAME: demo_backlog(), **extra_repos}
    for name, backlog in repos.items():
        bare = make_target_repo(tier, backlog, {"docs/index.md": "# Documentation\n"})
        destination = tier / "git" / f"{name}.git"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(bare, destination)
    for path in [tier, *tier.rglob("*")]:
        shutil.chown(path, 10001, 10001)
    target_file(tier / "autonomy")
    ports = {"control-plane": free_port(), "flower": free_port(), "forge": free_port()}
    env = {
        "LEVIATHAN_TIER_DIR": str(tier),
        "LEVIATHAN_TIER_FORGE_PORT": str(ports["forge"]),
        "LEVIATHAN_TIER_REPOS": " ".join(repos),
        "LEVIATHAN_PORT": str(ports["control-plane"]),
        "LEVIATHAN_FLOWER_PORT": str(ports["flower"]),
        "LEVIATHAN_COMPOSE_CONFIG": "/etc/leviathan-tier/demo.yaml",
        "LEVIATHAN_CONTROL_PLANE_TOKEN": TOKEN,
        "GITHUB_TOKEN": GITHUB_TOKEN,
    }
    stack = Stack(engine, env, ports)
    try:
        stack.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "240", timeout=400)
    except Exception:
        print(stack.logs())
        stack.compose("down", "-v", check=False)
        raise
    return stack
