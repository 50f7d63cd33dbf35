"""One attempt from start to pull request, in the seed's order, each step reported.

created → started → clone → load and re-check the task → a tree for the engine
(prepare) → the change engine (engine) → read the change as data → commit in
the publisher's clone → verify scope on that commit → fence check → PR cap →
push → PR cap again → fence check → open PR → check the PR's files →
pr.created → succeeded (publish). ``run`` does the three phases in one process
(the command engine in its sandbox); a Kubernetes Job runs them as three
containers (``prepare``, ``engine``, ``publish``), the engine's holding no
secret. Any step that fails raises AttemptFailure; the attempt then ends with
``attempt.failed`` carrying its reason code, and the failure line is the last
line printed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_adapters.forge.base import Forge, PullRequestInfo
from leviathan_adapters.git_auth import redact_url, scrub
from leviathan_adapters.github_credentials import GitCredentials
from leviathan_core.backlog import TaskEntry
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import branch_name
from leviathan_core.events import Event, EventType, FailureReason
from leviathan_worker import preparing, publish
from leviathan_worker.committing import Attempt, collect, commit, verify
from leviathan_worker.engine_phase import (
    EngineJob,
    EngineOutcome,
    apply_engine,
    read_outcome,
    share_with_group,
)
from leviathan_worker.engine_result import AgentReport, GateResult
from leviathan_worker.engine_verdict import accept
from leviathan_worker.engines import ChangeEngine
from leviathan_worker.evidence import Evidence, commit_message, pr_body, pr_title
from leviathan_worker.failure import AttemptFailure
from leviathan_worker.gate import make_gate
from leviathan_worker.git_token import GitToken
from leviathan_worker.layout import (
    Layout,
    beside_listing,
    load_state,
    save_state,
    written_beside,
)
from leviathan_worker.pr_habits import pr_body_for
from leviathan_worker.preparing import Prepared
from leviathan_worker.report import FENCE_CHECK_SECONDS, Console, Reporter, banner
from leviathan_worker.verify import VerifyResult


@dataclass(frozen=True, slots=True)
class AttemptArgs:
    target_id: str
    task_id: str
    attempt_id: str
    fence: int
    created_event: Event | None = None


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """Everything the attempt talks to, built by the CLI (or a test)."""

    config: AutonomyConfig
    client: ControlPlaneClient
    forge: Forge
    engine: ChangeEngine
    console: Console
    workspace_dir: Path
    control_plane_url: str
    github_token: SecretStr | None = None
    token_required: bool = False
    secrets: tuple[str, ...] = ()
    flush_seconds: float = 30.0
    fence_check_seconds: float = FENCE_CHECK_SECONDS
    hidden: tuple[Path, ...] = ()  # the worker's private paths, hidden from the quality gate
    # A GitHub App's installation tokens for git (minted at clone and again at push);
    # None: ``github_token`` is the one credential.
    git_credentials: GitCredentials | None = None


def worker_title(engine: str) -> str:
    return " ".join(word.capitalize() for word in engine.split("-")) + " Worker"


class AttemptRun:
    def __init__(self, args: AttemptArgs, ctx: WorkerContext) -> None:
        self.args = args
        self.ctx = ctx
        self.config = ctx.config
        self.say = ctx.console.say
        self.git_token = GitToken(ctx.github_token, ctx.git_credentials, ctx.console)
        self.branch = branch_name(args.attempt_id, ctx.engine.name)
        self.layout = Layout.of(ctx.workspace_dir, args.attempt_id)
        self.attempt = Attempt(
            args.task_id, args.attempt_id, self.branch, ctx.config.allowed_path_prefixes
        )
        self.reporter = Reporter(
            ctx.client,
            ctx.console,
            target_id=args.target_id,
            task_id=args.task_id,
            attempt_id=args.attempt_id,
            fence=args.fence,
            patience=ctx.fence_check_seconds,
        )
        self.created = args.created_event or self.reporter.event(
            EventType.ATTEMPT_CREATED, {"source": "worker"}
        )

    # ---- the three entry points --------------------------------------------------
    def run(self) -> int:
        """All phases in this process; 0 when the PR is open, 1 when the attempt failed."""
        return self._attempt(self._all)

    def prepare(self) -> int:
        """The Job's first container: 0 when the engine may run, 1 when the attempt failed."""
        code = self._attempt(self._prepare_and_save)
        if code != 0:
            save_state(self.layout, {"failed": True})
        return code

    def publish(self) -> int:
        """The Job's last container: 0 when the PR is open, 1 when the attempt failed."""
        state = load_state(self.layout)
        if state.get("failed"):
            self.say("✗ The prepare phase already ended this attempt")
            return 1
        return self._attempt(lambda: self._publish_saved(state), announce=False)

    # ---- orchestration -----------------------------------------------------------
    def _attempt(self, steps: Callable[[], None], announce: bool = True) -> int:
        """Run ``steps``; any failure ends the attempt with its reason code."""
        self.ctx.console.block(self._header())
        failure: AttemptFailure | None = None
        try:
            if announce:
                self.reporter.progress(self.created)
            steps()
        except AttemptFailure as exc:
            failure = exc
        except Exception as exc:  # the attempt must still end with a reason code
            text = f"{type(exc).__name__}: {exc}"
            for secret in (self.ctx.github_token, *self.ctx.secrets, *self.git_token.secrets()):
                text = scrub(text, secret)
            failure = AttemptFailure(FailureReason.INTERNAL_ERROR, text)
        if failure is not None:
            self.reporter.failed(failure)
        self.reporter.flush(self.ctx.flush_seconds)
        if failure is not None:
            self.say(failure.line())
            return 1
        return 0

    def _header(self) -> list[str]:
        return [
            *banner(worker_title(self.ctx.engine.name)),
            f"Target: {self.args.target_id}",
            f"Repo: {redact_url(self.config.target_repo_url)}",
            f"Task: {self.args.task_id}",
            f"Attempt: {self.args.attempt_id}",
            f"Fence: {self.args.fence}",
            "",
        ]

    def _all(self) -> None:
        prepared = self._prepare()
        before = beside_listing(self.layout)
        outcome = self._engine(prepared)
        self._publish(prepared, outcome, written_beside(self.layout, before))

    def _prepare_and_save(self) -> None:
        prepared = self._prepare()
        share_with_group(self.layout.engine)
        save_state(
            self.layout, {"populated": prepared.populated, "listing": beside_listing(self.layout)}
        )

    def _publish_saved(self, state: dict[str, object]) -> None:
        checkout = preparing.reopen(self.layout, self.config.target_branch)
        task = preparing.load_task(checkout, self.config, self.args.task_id, self.say)
        populated = state.get("populated")
        paths = [str(p) for p in populated] if isinstance(populated, list) else None
        listing = state.get("listing")
        before = {k: (v[0], v[1]) for k, v in listing.items()} if isinstance(listing, dict) else {}
        prepared = Prepared(checkout, task, paths)
        self._publish(prepared, read_outcome(self.layout), written_beside(self.layout, before))

    # ---- phases --------------------------------------------------------------------
    def _prepare(self) -> Prepared:
        if self.ctx.token_required and self.git_token.missing:
            raise AttemptFailure(
                FailureReason.MISSING_TOKEN,
                "GITHUB_TOKEN is not set; the target's forge or https URL needs it",
            )
        started = {"engine": self.ctx.engine.name, "branch": self.branch}
        self.reporter.progress(self.reporter.event(EventType.ATTEMPT_STARTED, started))
        # A late attempt.started is stored even when the attempt already ended: ask first.
        self.reporter.ensure_current()
        checkout = preparing.clone(self.config, self.layout, self.git_token(), self.say)
        task = preparing.load_task(checkout, self.config, self.args.task_id, self.say)
        populated = preparing.give_engine_a_tree(
            checkout,
            task,
            self.layout,
            self.ctx.engine.full_checkout,
            self.config.allowed_path_prefixes,
        )
        return Prepared(checkout, task, populated)

    def _engine(self, prepared: Prepared) -> EngineOutcome:
        job = EngineJob(
            prepared.task,
            self.args.task_id,
            self.args.attempt_id,
            self.branch,
            self.config.allowed_path_prefixes,
        )
        gate = make_gate(self.config, hidden=self.ctx.hidden)
        return apply_engine(self.ctx.engine, self.layout, job, self.say, self.ctx.secrets, gate)

    def _publish(self, prepared: Prepared, outcome: EngineOutcome, outside: list[str]) -> None:
        token = self.git_token()  # an App's token is renewed here if the attempt ran long
        secrets = (token, *self.ctx.secrets)
        self.reporter.usage(outcome.report)  # spent even if the change is refused below
        gate, report = accept(outcome, self.config.verify_command, secrets)
        checkout, task = prepared.checkout, prepared.task
        changes = collect(
            checkout, self.layout.target, task, prepared.populated, self.attempt, self.say
        )
        message = commit_message(
            task, self.args.task_id, self.args.attempt_id, self.ctx.engine.name
        )
        sha = commit(checkout, changes, message, self.created.occurred_at, self.layout.root)
        verified = verify(checkout, sha, task, self.attempt, outside, self.say)
        publisher = publish.Publisher(
            checkout=checkout,
            url=self.config.target_repo_url,
            token=token,
            branch=self.branch,
            target_branch=self.config.target_branch,
            forge=self.ctx.forge,
            max_open_prs=self.config.max_open_prs,
            say=self.say,
            options=self.config.pull_request,
            fresh_token=self.git_token if self.git_token.app else None,
        )
        self.reporter.ensure_current()
        publisher.check_cap()
        publisher.push(sha)
        try:
            publisher.check_cap()
            self.reporter.ensure_current()
            body = pr_body_for(
                self.config.pull_request, task, checkout=checkout, sha=sha,
                repo_url=self.config.target_repo_url, task_id=self.args.task_id,
                attempt_id=self.args.attempt_id, branch=self.branch,
                summary=self._pr_body(task, verified, gate, report),
            )  # fmt: skip
            pr = publisher.open_pr(pr_title(task, self.args.task_id), body, verified.paths)
        except AttemptFailure as failure:
            if failure.reason is FailureReason.PR_MISMATCH:
                raise  # the PR exists: leave it and its branch for a human to judge
            raise publisher.withdraw(failure) from None
        self._report_success(pr, sha, verified)
        shutil.rmtree(self.layout.publisher, ignore_errors=True)
        shutil.rmtree(self.layout.target, ignore_errors=True)

    # ---- helpers ---------------------------------------------------------------------
    def _pr_body(self, task: TaskEntry, verified: VerifyResult,
                 gate: GateResult | None, report: AgentReport | None) -> str:  # fmt: skip
        return pr_body(
            Evidence(
                task=task,
                task_id=self.args.task_id,
                attempt_id=self.args.attempt_id,
                fence=self.args.fence,
                branch=self.branch,
                engine=self.ctx.engine.name,
                changed_paths=verified.paths,
                scope_result=verified.summary(),
                timeline_url=f"{self.ctx.control_plane_url}/v1/attempts/{self.args.attempt_id}",
                gate=gate,
                report=report,
            )
        )

    def _report_success(self, pr: PullRequestInfo, sha: str, verified: VerifyResult) -> None:
        common = {"pr_number": pr.number, "pr_url": pr.url, "branch": self.branch, "commit": sha}
        created = {**common, "changed_files": list(verified.paths)}
        self.reporter.progress(self.reporter.event(EventType.PR_CREATED, created))
        self.reporter.progress(self.reporter.event(EventType.ATTEMPT_SUCCEEDED, common))
        self.ctx.console.block(
            [
                "",
                *banner("✅ Worker Complete"),
                f"PR URL: {pr.url}",
                f"PR Number: {pr.number}",
                f"Branch: {self.branch}",
                f"Commit SHA: {sha}",
            ]
        )


def run_attempt(args: AttemptArgs, ctx: WorkerContext) -> int:
    return AttemptRun(args, ctx).run()
