"""One attempt from start to pull request, in the seed's order, each step reported.

created → started → clone → load and re-check the task → copy for the engine →
change → read the change as data → commit in the publisher's clone → verify
scope on that commit → fence check → PR cap → push → PR cap again → fence
check → open PR → check the PR's files → pr.created → succeeded. The engine
works in a copy; the publisher's clone, where every later git command runs,
is one the engine never saw (``changeset``, ``pristine``). Any step that fails raises
AttemptFailure; the attempt then ends with ``attempt.failed`` carrying its
reason code, and the failure line is the last line printed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from leviathan_shared.backlog import Backlog, BacklogError, TaskEntry, parse_backlog
from leviathan_shared.config import AutonomyConfig
from leviathan_shared.constants import BACKLOG_PATH, branch_name
from leviathan_shared.control_plane_client import ControlPlaneClient
from leviathan_shared.events import Event, EventType, FailureReason
from leviathan_shared.forge.base import Forge, PullRequestInfo
from leviathan_shared.git_auth import redact_url, scrub
from leviathan_shared.scope import ScopeError, normalize_path
from leviathan_shared.verdicts import StaticRules, static_verdict
from leviathan_worker import publish
from leviathan_worker.bookkeeping import bookkeeping_paths
from leviathan_worker.changeset import FileChange, Limits
from leviathan_worker.clone import Checkout, clone_target, populate, read_committed, work_copy
from leviathan_worker.collect import Completion, engine_changes, with_bookkeeping
from leviathan_worker.engines import ChangeContext, ChangeEngine, EngineError
from leviathan_worker.evidence import Evidence, commit_message, pr_body, pr_title
from leviathan_worker.failure import AttemptFailure
from leviathan_worker.gitops import GitFailed
from leviathan_worker.pristine import base_tree, build_tree
from leviathan_worker.report import Console, Reporter, banner
from leviathan_worker.verify import VerifyResult, scratch_listing, verify_commit


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


def worker_title(engine: str) -> str:
    return " ".join(word.capitalize() for word in engine.split("-")) + " Worker"


class AttemptRun:
    def __init__(self, args: AttemptArgs, ctx: WorkerContext) -> None:
        self.args = args
        self.ctx = ctx
        self.config = ctx.config
        self.say = ctx.console.say
        self.branch = branch_name(args.attempt_id, ctx.engine.name)
        self.attempt_dir = ctx.workspace_dir / args.attempt_id
        self.reporter = Reporter(
            ctx.client,
            ctx.console,
            target_id=args.target_id,
            task_id=args.task_id,
            attempt_id=args.attempt_id,
            fence=args.fence,
        )
        self.created = args.created_event or self.reporter.event(
            EventType.ATTEMPT_CREATED, {"source": "worker"}
        )

    def run(self) -> int:
        """Run the attempt; 0 when the PR is open, 1 when the attempt failed."""
        self.ctx.console.block(self._header())
        failure: AttemptFailure | None = None
        try:
            self.reporter.progress(self.created)
            self._steps()
        except AttemptFailure as exc:
            failure = exc
        except Exception as exc:  # the attempt must still end with a reason code
            text = f"{type(exc).__name__}: {exc}"
            for secret in (self.ctx.github_token, *self.ctx.secrets):
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

    def _steps(self) -> None:
        if self.ctx.token_required and self.ctx.github_token is None:
            raise AttemptFailure(
                FailureReason.MISSING_TOKEN,
                "GITHUB_TOKEN is not set; the target's forge or https URL needs it",
            )
        started = {"engine": self.ctx.engine.name, "branch": self.branch}
        self.reporter.progress(self.reporter.event(EventType.ATTEMPT_STARTED, started))
        checkout = self._clone()
        task = self._load_task(checkout)
        work, populated = self._work_copy(checkout, task)
        outside = self._change(work, task)
        changes = self._collect(checkout, work, task, populated)
        sha = self._commit(checkout, task, changes)
        verified = self._verify(checkout, sha, task, outside)
        publisher = publish.Publisher(
            checkout=checkout,
            url=self.config.target_repo_url,
            token=self.ctx.github_token,
            branch=self.branch,
            target_branch=self.config.target_branch,
            forge=self.ctx.forge,
            max_open_prs=self.config.max_open_prs,
            say=self.say,
        )
        self.reporter.ensure_current()
        publisher.check_cap()
        publisher.push(sha)
        try:
            publisher.check_cap()
            self.reporter.ensure_current()
            pr = publisher.open_pr(
                pr_title(task, self.args.task_id), self._pr_body(task, verified), verified.paths
            )
        except AttemptFailure as failure:
            if failure.reason is FailureReason.PR_MISMATCH:
                raise  # the PR exists: leave it and its branch for a human to judge
            raise publisher.withdraw(failure) from None
        self._report_success(pr, sha, verified)
        shutil.rmtree(checkout.path, ignore_errors=True)
        shutil.rmtree(work.path, ignore_errors=True)

    def _clone(self) -> Checkout:
        self.say(f"Cloning {redact_url(self.config.target_repo_url)}...")
        try:
            checkout = clone_target(
                self.config.target_repo_url,
                self.config.target_branch,
                self.attempt_dir / "publisher",
                self.ctx.github_token,
            )
        except (GitFailed, OSError) as exc:
            raise AttemptFailure(FailureReason.CLONE_FAILED, str(exc)) from None
        self.say(f"✓ Cloned to {checkout.path}")
        return checkout

    def _load_task(self, checkout: Checkout) -> TaskEntry:
        raw = read_committed(checkout, BACKLOG_PATH)
        if raw is None:
            raise AttemptFailure(
                FailureReason.TASK_NOT_FOUND, f"{BACKLOG_PATH} is missing on the target branch"
            )
        try:
            backlog = parse_backlog(raw, BACKLOG_PATH)
        except BacklogError as exc:
            raise AttemptFailure(FailureReason.TASK_NOT_FOUND, str(exc)) from None
        task = backlog.get(self.args.task_id)
        if task is None:
            raise AttemptFailure(
                FailureReason.TASK_NOT_FOUND,
                f"task {self.args.task_id!r} is not in {BACKLOG_PATH} (or is malformed)",
            )
        self.say(f"✓ Loaded task spec: {self.args.task_id}")
        self.say(f"  Title: {task.title}")
        self._check_eligible(task, backlog)
        return task

    def _check_eligible(self, task: TaskEntry, backlog: Backlog) -> None:
        """The backlog may have changed since the task was selected: re-judge it."""
        statuses = {t.id: t.status for t in backlog.tasks if t.id is not None}
        verdict = static_verdict(task, StaticRules.of(self.config), statuses)
        if not verdict.eligible:
            why = "; ".join(verdict.messages) or ", ".join(verdict.reasons)
            raise AttemptFailure(
                FailureReason.TASK_NOT_ELIGIBLE,
                f"task {self.args.task_id!r} is no longer eligible on "
                f"{self.config.target_branch}: {', '.join(verdict.reasons)} ({why})",
                reasons=list(verdict.reasons),
            )

    def _work_copy(self, checkout: Checkout, task: TaskEntry) -> tuple[Checkout, list[str] | None]:
        """The engine's own clone: the whole tree, or only what the engine may write."""
        paths = None
        if not self.ctx.engine.full_checkout:
            own = bookkeeping_paths(self.args.task_id, self.config.allowed_path_prefixes)
            paths = [*own, *(normalize_path(p) for p in task.allowed_paths if _usable(p))]
        try:
            work = work_copy(checkout, self.attempt_dir / "target")
            populate(work, paths)
        except GitFailed as exc:
            raise AttemptFailure(FailureReason.CLONE_FAILED, str(exc)) from None
        return work, paths

    def _change(self, checkout: Checkout, task: TaskEntry) -> list[str]:
        """Apply the engine; returns what changed beside the checkout (must be nothing)."""
        scratch = self.attempt_dir / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        before = scratch_listing(self.attempt_dir, (checkout.path, scratch))
        context = ChangeContext(
            checkout=checkout.path,
            scratch=scratch,
            task=task,
            task_id=self.args.task_id,
            attempt_id=self.args.attempt_id,
            branch=self.branch,
            prefixes=self.config.allowed_path_prefixes,
            say=self.say,
            secrets=self.ctx.secrets,
        )
        try:
            self.ctx.engine.apply(context)
        except EngineError as exc:
            raise AttemptFailure(FailureReason.ENGINE_FAILED, str(exc)) from None
        after = scratch_listing(self.attempt_dir, (checkout.path, scratch))
        return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))

    def _collect(
        self, checkout: Checkout, work: Checkout, task: TaskEntry, populated: list[str] | None
    ) -> list[FileChange]:
        """The engine's files as data, plus the publisher's own backlog edit."""
        done = Completion(
            task_id=self.args.task_id,
            attempt_id=self.args.attempt_id,
            branch=self.branch,
            prefixes=self.config.allowed_path_prefixes,
            allowed_paths=task.allowed_paths,
        )
        changes = engine_changes(work.path, base_tree(checkout), populated, Limits())
        return with_bookkeeping(changes, read_committed(checkout, BACKLOG_PATH), done)

    def _commit(self, checkout: Checkout, task: TaskEntry, changes: list[FileChange]) -> str:
        message = commit_message(
            task, self.args.task_id, self.args.attempt_id, self.ctx.engine.name
        )
        try:
            tree = build_tree(checkout, changes, self.attempt_dir)
        except GitFailed as exc:
            # git refuses paths it could never check out (``..``, ``.git``): out of scope.
            raise AttemptFailure(FailureReason.SCOPE_VIOLATION, str(exc)) from None
        return publish.commit_change(checkout, tree, message, self.created.occurred_at)

    def _verify(
        self, checkout: Checkout, sha: str, task: TaskEntry, outside: list[str]
    ) -> VerifyResult:
        """Scope, checked on the very commit that will be pushed."""
        result = verify_commit(
            checkout,
            sha,
            task_id=self.args.task_id,
            allowed_paths=task.allowed_paths,
            prefixes=self.config.allowed_path_prefixes,
            outside=outside,
        )
        if result.violations:
            raise AttemptFailure(
                FailureReason.SCOPE_VIOLATION,
                result.summary(),
                paths=[v.path for v in result.violations],
            )
        if not result.paths:
            raise AttemptFailure(FailureReason.NO_CHANGES, "the change engine changed nothing")
        self.say(f"✓ Scope check {result.summary()}")
        return result

    def _pr_body(self, task: TaskEntry, verified: VerifyResult) -> str:
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


def _usable(path: str) -> bool:
    """Allowed paths that can be checked out; the scope check judges the rest anyway."""
    try:
        normalize_path(path)
    except ScopeError:
        return False
    return True
