"""Run the worker against real parts: a bare git remote, the control plane, a forge.

``WorkerHarness`` builds the target repository, the configuration and the
attempt's ``attempt.created`` envelope the way the scheduler would, and runs
the worker in-process (``run``) or as the real ``leviathan-worker`` program
(``run_cli``). Forge wrappers let a test act at an exact step of the attempt.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import SecretStr

from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_adapters.forge.base import Forge, PullRequestInfo
from leviathan_adapters.forge.local import LocalForge
from leviathan_adapters.github_credentials import GitCredentials
from leviathan_core.config import AutonomyConfig, parse_config
from leviathan_core.events import Event, EventType, new_event
from leviathan_core.pr_options import PullRequestOptions
from leviathan_worker.engines import ChangeEngine, make_engine
from leviathan_worker.report import Console
from leviathan_worker.runner import AttemptArgs, WorkerContext, run_attempt
from tests.support.control_plane import ControlPlane
from tests.support.gitrepo import git, make_target_repo

BACKLOG = """\
# The demo backlog: one eligible docs task.
tasks:
  - id: update-readme-links   # the one to pick
    title: Fix broken links in README
    ready: true
    status: pending
    scope: docs
    priority: high
    allowed_paths: [docs/README.md]
    dependencies: []
    acceptance_criteria:
      - Every link in docs/README.md resolves
      - No other file changes

  # not ready yet
  - id: write-architecture-notes
    title: Write architecture notes
    ready: false
    scope: docs
    allowed_paths: [docs/architecture.md]
"""
TASK = "update-readme-links"
SEED_EVENTS = ["attempt.created", "attempt.started", "pr.created", "attempt.succeeded"]


def attempt_id_for(task: str, suffix: str = "0a1b2c3d") -> str:
    return f"attempt-{task}-{suffix}"


@dataclass
class WorkerHarness:
    tmp: Path
    cp: ControlPlane
    backlog: str = BACKLOG
    files: dict[str, str] = field(default_factory=lambda: {"docs/README.md": "# Readme\n"})
    target_id: str = "demo"
    repo_parent: Path | None = None
    existing_repo: Path | None = None  # use this bare repository instead of making one

    def __post_init__(self) -> None:
        self.bare = self.existing_repo or make_target_repo(
            self.repo_parent or self.tmp, self.backlog, self.files
        )
        self.workspace = self.tmp / "workspace"
        self.forge_dir = self.tmp / "forge"

    # ---- configuration -------------------------------------------------------
    def config_data(self, **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "target_id": self.target_id,
            "target_repo_url": f"file://{self.bare}",
            "target_branch": "main",
            "allowed_path_prefixes": [".leviathan/", "docs/"],
            "max_open_prs": 1,
            "control_plane_url": self.cp.url,
            "workspace_dir": str(self.workspace),
            "executor": "local",
            "forge": "local",
            "local_forge_dir": str(self.forge_dir),
        }
        data.update(overrides)
        return data

    def config(self, **overrides: Any) -> AutonomyConfig:
        return parse_config(self.config_data(**overrides), "test config")

    def write_config(self, **overrides: Any) -> Path:
        path = self.tmp / "config" / f"{self.target_id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.config_data(**overrides)), encoding="utf-8")
        return path

    def local_forge(self) -> LocalForge:
        return LocalForge(self.bare, self.forge_dir)

    def created_event(self, attempt_id: str, fence: int = 1, task: str = TASK) -> Event:
        return new_event(
            EventType.ATTEMPT_CREATED,
            target_id=self.target_id,
            actor="scheduler",
            attempt_id=attempt_id,
            task_id=task,
            fence=fence,
            payload={"attempt_number": 1},
        )

    def client(self, attempt_id: str, token: str | None = None) -> ControlPlaneClient:
        spool = self.workspace / attempt_id / "spool" / "events.jsonl"
        return ControlPlaneClient(
            self.cp.url, token or self.cp.token, spool_path=spool, retries=1, backoff=0.05
        )

    # ---- running -------------------------------------------------------------
    def run(
        self,
        attempt_id: str,
        *,
        fence: int = 1,
        task: str = TASK,
        config: AutonomyConfig | None = None,
        forge: Forge | None = None,
        engine: ChangeEngine | None = None,
        github_token: str | None = None,
        token_required: bool = False,
        created: Event | None = None,
        client: ControlPlaneClient | None = None,
        fence_check_seconds: float = 0.0,
        git_credentials: GitCredentials | None = None,
    ) -> tuple[int, str]:
        """Run one attempt in-process; returns (exit code, console output)."""
        config = config or self.config()
        out = io.StringIO()
        client = client or self.client(attempt_id)
        ctx = WorkerContext(
            config=config,
            client=client,
            forge=forge or self.local_forge(),
            engine=engine or make_engine(config),
            console=Console(out, secrets=[github_token] if github_token else []),
            workspace_dir=self.workspace,
            control_plane_url=self.cp.url,
            github_token=SecretStr(github_token) if github_token else None,
            token_required=token_required,
            secrets=tuple(s for s in (github_token, self.cp.token) if s),
            flush_seconds=0,
            fence_check_seconds=fence_check_seconds,
            git_credentials=git_credentials,
        )
        args = AttemptArgs(
            self.target_id,
            task,
            attempt_id,
            fence,
            created or self.created_event(attempt_id, fence, task),
        )
        with client:
            code = run_attempt(args, ctx)
        return code, out.getvalue()

    def cli_env(
        self, attempt_id: str, *, fence: int = 1, config_path: Path | None = None
    ) -> dict[str, str]:
        """The variables a Job or the local executor sets for this attempt."""
        return {
            "LEVIATHAN_CONFIG": str(config_path or self.write_config()),
            "LEVIATHAN_TARGET": self.target_id,
            "LEVIATHAN_TASK": TASK,
            "LEVIATHAN_ATTEMPT": attempt_id,
            "LEVIATHAN_FENCE": str(fence),
            "LEVIATHAN_CONTROL_PLANE_URL": self.cp.url,
            "LEVIATHAN_CONTROL_PLANE_TOKEN": self.cp.token,
            "LEVIATHAN_CREATED_EVENT": self.created_event(attempt_id, fence).model_dump_json(),
            "LEVIATHAN_WORKER_FLUSH_SECONDS": "0",
            "LEVIATHAN_DATA_DIR": str(self.tmp / "data"),
        }

    def run_cli(
        self,
        attempt_id: str,
        *,
        fence: int = 1,
        env: dict[str, str] | None = None,
        config_path: Path | None = None,
        command: str = "run",
        drop: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        """The real ``leviathan-worker`` program, configured only through its environment.

        ``command``: ``run`` or one phase (``prepare``, ``engine``, ``publish``);
        ``drop``: variables to leave out (the engine phase gets no token).
        """
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LEVIATHAN_", "GITHUB_"))}
        base.update(self.cli_env(attempt_id, fence=fence, config_path=config_path))
        base.update(env or {})
        for name in drop:
            base.pop(name, None)
        program = Path(sys.executable).with_name("leviathan-worker")
        return subprocess.run(
            [str(program), command],
            env=base,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.tmp,
        )

    # ---- reading the outcome -------------------------------------------------
    def timeline(self, attempt_id: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.cp.url}/v1/attempts/{attempt_id}",
            headers={"Authorization": f"Bearer {self.cp.token}"},
            timeout=10,
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def event_types(self, attempt_id: str) -> list[str]:
        return [e["event"]["type"] for e in self.timeline(attempt_id)["events"]]

    def remote_branches(self) -> list[str]:
        out = git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=self.bare)
        return sorted(out.split())

    def remote_files(self, ref: str) -> list[str]:
        return sorted(git("ls-tree", "-r", "--name-only", ref, cwd=self.bare).split("\n"))

    def diff_names(self, ref: str) -> list[str]:
        out = git("diff", "--name-only", f"main...{ref}", cwd=self.bare)
        return sorted(out.split("\n")) if out else []


Action = Callable[[], None] | None


class ForgeHook:
    """A forge that runs an action before chosen calls, then delegates to the real forge.

    ``open_agent_prs=[None, act]`` runs ``act`` before the second call only.
    """

    def __init__(self, inner: Forge, **before: Action | list[Action]) -> None:
        self.inner = inner
        self.before = {k: v if isinstance(v, list) else [v] for k, v in before.items()}
        self.calls: list[str] = []

    def _hook(self, name: str) -> None:
        self.calls.append(name)
        queue = self.before.get(name)
        action = queue.pop(0) if queue else None
        if action is not None:
            action()

    def open_agent_prs(self) -> list[PullRequestInfo]:
        self._hook("open_agent_prs")
        return self.inner.open_agent_prs()

    def get_pull_request(self, number: int) -> PullRequestInfo:
        return self.inner.get_pull_request(number)

    def create_pull_request(
        self, *, branch: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequestInfo:
        self._hook("create_pull_request")
        extra = {"draft": True} if draft else {}
        return self.inner.create_pull_request(
            branch=branch, base=base, title=title, body=body, **extra
        )

    def pull_request_files(self, number: int) -> list[str]:
        self._hook("pull_request_files")
        return self.inner.pull_request_files(number)

    def delete_branch(self, branch: str) -> bool:
        return self.inner.delete_branch(branch)

    def decorate_pull_request(self, number: int, options: PullRequestOptions) -> list[str]:
        self._hook("decorate_pull_request")
        return self.inner.decorate_pull_request(number, options)
