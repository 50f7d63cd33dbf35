"""Commit, push and open the pull request, with the guards that make it safe to retry.

The commit is built from the publisher's tree on top of the cloned commit with a
fixed identity and the attempt's creation time, so a retried attempt makes the
same commit. The push goes only to the attempt's own ``agent/`` branch, never
to the target branch. The PR cap is read again from the forge (a PR opened
while this attempt ran counts; this branch's own PR does not), and the PR's
file list must equal the verified local diff.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import SecretStr

from leviathan_adapters.forge.base import Forge, ForgeRejected, ForgeUnavailable, PullRequestInfo
from leviathan_core import caps
from leviathan_core.constants import BRANCH_PREFIX
from leviathan_core.events import FailureReason
from leviathan_core.pr_options import PullRequestOptions
from leviathan_worker import gitops, pr_habits
from leviathan_worker.clone import Checkout
from leviathan_worker.evidence import COMMITTER_EMAIL, COMMITTER_NAME
from leviathan_worker.failure import AttemptFailure
from leviathan_worker.gitops import GitFailed, clone_url


def commit_change(checkout: Checkout, tree: str, message: str, when: datetime) -> str:
    """Commit ``tree`` onto the cloned commit; returns the new commit id."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S%z")
    env = gitops.environment()
    env.update(
        GIT_AUTHOR_NAME=COMMITTER_NAME,
        GIT_AUTHOR_EMAIL=COMMITTER_EMAIL,
        GIT_COMMITTER_NAME=COMMITTER_NAME,
        GIT_COMMITTER_EMAIL=COMMITTER_EMAIL,
        GIT_AUTHOR_DATE=stamp,
        GIT_COMMITTER_DATE=stamp,
    )
    return gitops.run(
        checkout.repo, "commit-tree", tree, "-p", checkout.base_sha, "-m", message,
        action="committing", env=env,
    )  # fmt: skip


def guard_branch(branch: str, target_branch: str) -> str:
    """The full ref to push to; refuses anything but an ``agent/`` branch."""
    if not branch.startswith(BRANCH_PREFIX) or branch in (target_branch, BRANCH_PREFIX):
        raise AttemptFailure(
            FailureReason.INTERNAL_ERROR,
            f"refusing to push to {branch!r}: only {BRANCH_PREFIX}* branches may be pushed",
        )
    return f"refs/heads/{branch}"


def _push_ref(
    checkout: Checkout, url: str, token: SecretStr | None, refspec: str, action: str
) -> None:
    """One ``git push`` of ``refspec`` to the target's remote (raises GitFailed)."""
    remote = clone_url(url)
    gitops.run(
        checkout.repo, "push", "--porcelain", "--no-verify", remote, refspec,
        action=action, env=gitops.environment(remote, token), token=token,
    )  # fmt: skip


def push_branch(
    checkout: Checkout,
    url: str,
    token: SecretStr | None,
    sha: str,
    branch: str,
    target_branch: str,
) -> None:
    """Push ``sha`` to the attempt's branch (forced: the branch belongs to this attempt)."""
    ref = guard_branch(branch, target_branch)
    try:
        _push_ref(checkout, url, token, f"+{sha}:{ref}", f"pushing {branch}")
    except GitFailed as exc:
        raise AttemptFailure(FailureReason.PUSH_REJECTED, str(exc), branch=branch) from None


def delete_branch(
    checkout: Checkout, url: str, token: SecretStr | None, branch: str, target_branch: str
) -> str | None:
    """Remove the pushed branch again; returns a problem description, or None when done."""
    ref = guard_branch(branch, target_branch)
    try:
        _push_ref(checkout, url, token, f":{ref}", f"deleting {branch}")
    except GitFailed as exc:
        return str(exc)
    return None


def other_open_prs(forge: Forge, own_branch: str) -> list[PullRequestInfo]:
    """Open agent PRs except this attempt's own (which a retry may already have opened)."""
    try:
        return [p for p in forge.open_agent_prs() if p.branch != own_branch]
    except (ForgeUnavailable, ForgeRejected) as exc:
        raise AttemptFailure(
            FailureReason.FORGE_ERROR, f"cannot count open agent PRs: {exc}"
        ) from None


def cap_reached(others: Sequence[PullRequestInfo], max_open_prs: int) -> str | None:
    """The PR cap's last layer (``leviathan_core.caps``): counted again at push time."""
    return caps.pr_cap_problem(max_open_prs, [p.number for p in others])


def open_pull_request(
    forge: Forge, *, branch: str, base: str, title: str, body: str, draft: bool = False
) -> PullRequestInfo:
    """Create the PR; an "already exists" answer for this branch is the earlier run's PR."""
    extra = {"draft": True} if draft else {}
    try:
        try:
            return forge.create_pull_request(
                branch=branch, base=base, title=title, body=body, **extra
            )
        except ForgeRejected as exc:
            if "already exists" not in str(exc).lower():
                raise
            existing = [p for p in forge.open_agent_prs() if p.branch == branch]
            if not existing:
                raise
            return existing[0]
    except (ForgeRejected, ForgeUnavailable) as exc:
        raise AttemptFailure(FailureReason.FORGE_ERROR, f"cannot open the PR: {exc}") from None


def pr_file_mismatch(forge_paths: Sequence[str], local_paths: Sequence[str]) -> str | None:
    """None when the PR changes exactly the verified paths, else what differs."""
    remote, local = set(forge_paths), set(local_paths)
    if remote == local:
        return None
    extra = ", ".join(sorted(remote - local)[:10]) or "-"
    missing = ", ".join(sorted(local - remote)[:10]) or "-"
    return f"the PR's files differ from the verified diff (extra: {extra}; missing: {missing})"


def pr_files(forge: Forge, number: int) -> list[str]:
    try:
        return forge.pull_request_files(number)
    except (ForgeUnavailable, ForgeRejected) as exc:
        raise AttemptFailure(
            FailureReason.FORGE_ERROR, f"cannot read the files of PR #{number}: {exc}"
        ) from None


@dataclass(frozen=True, slots=True)
class Publisher:
    """Push the attempt's branch and open its PR; withdraw the branch when that fails."""

    checkout: Checkout
    url: str
    token: SecretStr | None
    branch: str
    target_branch: str
    forge: Forge
    max_open_prs: int
    say: Callable[[str], None]
    options: PullRequestOptions = field(default_factory=PullRequestOptions)
    # A GitHub App's tokens expire: asked again right before each push (None: ``token``).
    fresh_token: Callable[[], SecretStr | None] | None = None

    def _token(self) -> SecretStr | None:
        return self.fresh_token() if self.fresh_token is not None else self.token

    def check_cap(self) -> None:
        problem = cap_reached(other_open_prs(self.forge, self.branch), self.max_open_prs)
        if problem is not None:
            raise AttemptFailure(FailureReason.PR_CAP, problem)

    def push(self, sha: str) -> None:
        self.say(f"Pushing branch {self.branch}...")
        push_branch(self.checkout, self.url, self._token(), sha, self.branch, self.target_branch)
        self.say("✓ Branch pushed")
        self.say(f"✓ Commit SHA: {sha}")

    def withdraw(self, failure: AttemptFailure) -> AttemptFailure:
        """Delete the pushed branch again, so a failed attempt leaves nothing behind."""
        try:
            problem = delete_branch(self.checkout, self.url, self._token(), self.branch,
                                    self.target_branch)  # fmt: skip
        except AttemptFailure as no_token:  # a GitHub App that no longer answers
            problem = no_token.message
        note = "pushed branch deleted" if problem is None else f"could not delete: {problem}"
        details = {"branch": self.branch, **failure.details}
        return AttemptFailure(failure.reason, f"{failure.message}; {note}", **details)

    def open_pr(self, title: str, body: str, verified: Sequence[str]) -> PullRequestInfo:
        """Open (or find) the PR and check that it changes exactly the verified paths."""
        self.say("")
        self.say("Creating pull request...")
        pr = open_pull_request(
            self.forge, branch=self.branch, base=self.target_branch, title=title, body=body,
            draft=self.options.draft,
        )  # fmt: skip
        self.say(f"✓ PR created: {pr.url}")
        self.say(f"✓ PR number: {pr.number}")
        mismatch = pr_file_mismatch(pr_files(self.forge, pr.number), verified)
        if mismatch is not None:
            raise AttemptFailure(
                FailureReason.PR_MISMATCH, mismatch, pr_number=pr.number, pr_url=pr.url
            )
        pr_habits.decorate(self.forge, pr.number, self.options, self.say)
        return pr
