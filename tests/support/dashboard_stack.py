"""A target on the GitHub fake with its dashboard on: git over smart HTTP for the
backlog, the fake for PRs and issues (real PyGithub over a socket), the control
plane under uvicorn with webhooks on, and the test's redis-server."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from leviathan_scheduler.cycle import CycleOutcome, run_cycle
from leviathan_scheduler.runtime import Runtime
from tests.support.control_plane import TEST_TOKEN, ControlPlane, running_control_plane
from tests.support.git_http import GitHttpServer
from tests.support.github_fake import GitHubFake
from tests.support.github_fake_issues import FakeIssue
from tests.support.gitrepo import make_target_repo
from tests.support.scheduler_stack import BACKLOG, SchedulerStack
from tests.support.servers import UvicornThread, free_port

SECRET = "dashboard-webhook-secret"
TOKEN = "gh-token"


@dataclass
class DashboardStack:
    stack: SchedulerStack
    github: GitHubFake
    repo: str  # owner/name on the fake

    def runtime(self) -> Runtime:
        return self.stack.runtime(GITHUB_TOKEN=TOKEN)

    def cycle(self, runtime: Runtime | None = None) -> CycleOutcome:
        runtime = runtime or self.runtime()
        config = runtime.config_for("radix")
        return run_cycle(config, runtime.deps_for(config))

    def issues(self) -> list[FakeIssue]:
        return self.github.issues(self.repo)

    def writes(self) -> list[str]:
        """POST and PATCH requests to issues, as ``METHOD path``."""
        return [
            f"{r.method} {r.path}"
            for r in self.github.requests
            if r.method in ("POST", "PATCH") and "/issues" in r.path
        ]

    def deliver_edit(
        self, before: str, after: str, login: str, *, delivery: str, secret: str = SECRET
    ) -> httpx.Response:
        """A signed ``issues.edited`` delivery, as GitHub sends it when ``login`` edits."""
        (issue,) = self.issues()
        payload: dict[str, Any] = {
            "action": "edited",
            "issue": {
                "number": issue.number,
                "body": after,
                "labels": [{"name": label} for label in issue.labels],
            },
            "changes": {"body": {"from": before}},
            "repository": {"full_name": self.repo},
            "sender": {"login": login},
        }
        body = json.dumps(payload).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": f"sha256={signature}",
            "Content-Type": "application/json",
        }
        return httpx.post(
            f"{self.stack.cp.url}/v1/webhooks/github", content=body, headers=headers, timeout=30
        )


@contextmanager
def dashboard_stack(tmp_path: Path, redis_url: str, **config: Any) -> Iterator[DashboardStack]:
    git_root = tmp_path / "git"
    origin = make_target_repo(git_root / "acme", BACKLOG)
    repo = f"acme/{origin.stem}"
    github = GitHubFake(token=TOKEN)
    github.git_root = git_root  # the contents API serves the backlog from the same repository
    github.add_repo(repo)
    config_dir = tmp_path / "autonomy"
    config_dir.mkdir(parents=True)
    port = free_port()
    with ExitStack() as stack_of:
        git = stack_of.enter_context(UvicornThread(GitHttpServer(git_root).app))
        api = stack_of.enter_context(UvicornThread(github.app))
        planned = ControlPlane(f"http://127.0.0.1:{port}", TEST_TOKEN)
        stack = SchedulerStack(tmp_path, redis_url, planned, origin, config_dir)
        stack.write_config(
            forge="github",
            target_repo_url=f"{git.url}/acme/{origin.name}",
            github_api_url=api.url,
            dashboard_issue=True,
            **config,
        )
        stack.cp = stack_of.enter_context(
            running_control_plane(
                tmp_path / "cp",
                config=config_dir,
                port=port,
                github_webhook_secret=SECRET,
                redis_url=redis_url,
                webhook_debounce_seconds=0,
            )
        )
        try:
            yield DashboardStack(stack, github, repo)
        finally:
            for app in stack.senders:
                app.close()
