"""The scope verdict on a diff, and the pure helpers of publishing, as tables."""

from __future__ import annotations

import pytest

from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable, PullRequestInfo
from leviathan_worker.failure import AttemptFailure
from leviathan_worker.publish import (
    cap_reached,
    guard_branch,
    open_pull_request,
    pr_file_mismatch,
)
from leviathan_worker.verify import (
    PathChange,
    backlog_violation,
    check_changes,
    parse_raw_diff,
    symlink_violation,
)

PREFIXES = [".leviathan/", "docs/"]
BACKLOG = "tasks:\n  - id: a\n    ready: true\n  - id: b\n    ready: true\n"


def change(path: str, status: str = "M", mode: str = "100644") -> PathChange:
    return PathChange(status, path, "100644", mode, "0" * 40)


def verdict(*changes: PathChange, allowed: tuple[str, ...] = ("docs/a.md",), **kw: object):  # type: ignore[no-untyped-def]
    return check_changes(
        list(changes), task_id="a", allowed_paths=allowed, prefixes=PREFIXES,
        link_targets=kw.pop("links", {}), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_parse_raw_diff_reads_modes_status_and_odd_names() -> None:
    raw = (
        ":100644 100755 abc def M\0docs/run.sh\0"
        ":000000 120000 000 fed A\0docs/link\0"
        ":100644 000000 abc 000 D\0docs/old name.md\0"
    )
    assert parse_raw_diff(raw) == [
        PathChange("M", "docs/run.sh", "100644", "100755", "def"),
        PathChange("A", "docs/link", "000000", "120000", "fed"),
        PathChange("D", "docs/old name.md", "100644", "000000", "000"),
    ]
    assert parse_raw_diff("") == []


@pytest.mark.parametrize(
    ("path", "target", "bad"),
    [
        ("docs/link", "a.md", False),
        ("docs/sub/link", "../a.md", False),
        ("docs/link", "../src/app.py", False),  # inside the repository: the path check decides
        ("docs/link", "/etc/passwd", True),
        ("docs/link", "../../etc", True),
        ("link", "..", True),
        ("docs/link", "../.git/config", True),
        ("docs/link", "../.GIT/config", True),  # .git on a case-folding checkout
        ("docs/link", "../.git./hooks", True),  # .git on Windows
        ("docs/link", "sub/.git", True),  # a nested repository's
        ("docs/link", ".github/x", False),
        ("docs/link", "", True),
        ("docs/link", "..\\..\\x", True),
    ],
)
def test_symlink_targets(path: str, target: str, bad: bool) -> None:
    assert (symlink_violation(path, target) is not None) == bad


def test_in_scope_change_passes_with_bookkeeping() -> None:
    result = verdict(change("docs/a.md"), change(".leviathan/proposals/a.md", "A"))
    assert result.ok
    assert result.paths == (".leviathan/proposals/a.md", "docs/a.md")
    assert result.summary() == "passed: 2 path(s), all inside the task's scope"


@pytest.mark.parametrize(
    ("changes", "offender", "reason"),
    [
        ([change("docsx/evil.md", "A")], "docsx/evil.md", "outside the target's allowed prefixes"),
        ([change("docs/b.md", "A")], "docs/b.md", "not in the task's allowed_paths"),
        ([change("docs/a.md", "D"), change("src/a.md", "A")], "src/a.md", "outside"),
        ([change("docs/a.md", "T", "120000")], "docs/a.md", "symlink points outside"),
        ([change("docs/a.md", "A", "160000")], "docs/a.md", "submodules are not allowed"),
        ([change(".leviathan/proposals/b.md", "A")], ".leviathan/proposals/b.md", "allowed_paths"),
        ([change("docs/\udcff.md", "A")], "docs/\\xff.md", "not valid UTF-8"),
        ([change("docs/x\n✓ PR created: u", "A")], "docs/x\\n✓ PR created: u", "control"),
    ],
)
def test_violations_name_the_path_and_why(
    changes: list[PathChange], offender: str, reason: str
) -> None:
    result = verdict(*changes, links={"docs/a.md": "/etc/passwd"})
    assert not result.ok
    assert any(v.path == offender and reason in v.reason for v in result.violations), result
    assert len(result.summary().splitlines()) == 1  # a name cannot start a console line


def test_writes_beside_the_checkout_are_violations() -> None:
    result = verdict(change("docs/a.md"), outside=["escape.txt"])
    assert [(v.path, v.reason) for v in result.violations] == [
        ("../escape.txt", "written outside the checkout")
    ]


def test_bookkeeping_outside_the_prefixes_is_not_allowed() -> None:
    result = check_changes(
        [change(".leviathan/backlog.yaml")], task_id="a", allowed_paths=["docs/a.md"],
        prefixes=["docs/"], link_targets={},
    )  # fmt: skip
    assert [v.path for v in result.violations] == [".leviathan/backlog.yaml"]


@pytest.mark.parametrize(
    ("after", "bad"),
    [
        (
            BACKLOG.replace(
                "ready: true\n  - id: b", "ready: false\n    status: completed\n  - id: b"
            ),
            False,
        ),
        (BACKLOG.replace("id: b\n    ready: true", "id: b\n    ready: false"), True),
        (BACKLOG + "owner: me\n", True),
        ("tasks:\n  - id: a\n", True),
        (None, True),
        ("tasks: [", True),
    ],
)
def test_backlog_may_change_only_in_the_tasks_own_entry(after: str | None, bad: bool) -> None:
    assert (backlog_violation(BACKLOG, after, "a") is not None) == bad


def test_backlog_check_runs_unless_the_task_owns_the_backlog() -> None:
    edited = (BACKLOG, BACKLOG.replace("id: b\n    ready: true", "id: b\n    ready: false"))
    item = change(".leviathan/backlog.yaml")
    assert not verdict(item, backlog=edited).ok
    assert verdict(item, backlog=edited, allowed=(".leviathan/backlog.yaml",)).ok


def pr(number: int, branch: str) -> PullRequestInfo:
    return PullRequestInfo(number=number, url=f"u/{number}", branch=branch, base="main", title="t")


def test_cap_counts_other_prs_only_as_given() -> None:
    assert cap_reached([], 1) is None
    assert cap_reached([pr(1, "agent/x")], 2) is None
    assert cap_reached([pr(1, "agent/x")], 1) == (
        "1 open agent PR(s) (#1) already reach max_open_prs=1"
    )
    assert cap_reached([], 0) is not None


@pytest.mark.parametrize("branch", ["main", "agent/", "feature/x", "refs/heads/agent/x"])
def test_only_agent_branches_are_pushed(branch: str) -> None:
    with pytest.raises(AttemptFailure, match="refusing to push"):
        guard_branch(branch, "main")


def test_agent_branch_ref() -> None:
    assert guard_branch("agent/backlog-propose-x", "main") == "refs/heads/agent/backlog-propose-x"
    with pytest.raises(AttemptFailure):
        guard_branch("agent/release", "agent/release")


def test_pr_file_mismatch() -> None:
    assert pr_file_mismatch(["b", "a"], ["a", "b"]) is None
    assert pr_file_mismatch(["a", "x"], ["a", "b"]) == (
        "the PR's files differ from the verified diff (extra: x; missing: b)"
    )


class StubForge:
    """Only what open_pull_request touches; the integration tests use the real forges."""

    def __init__(self, error: Exception, existing: list[PullRequestInfo]) -> None:
        self.error, self.existing = error, existing

    def create_pull_request(self, **_: str) -> PullRequestInfo:
        raise self.error

    def open_agent_prs(self) -> list[PullRequestInfo]:
        return self.existing


def test_already_exists_means_the_earlier_runs_pr() -> None:
    mine = pr(7, "agent/b-a1")
    forge = StubForge(ForgeRejected("A pull request already exists for o:agent/b-a1."), [mine])
    opened = open_pull_request(forge, branch="agent/b-a1", base="main", title="t", body="b")  # type: ignore[arg-type]
    assert opened == mine


@pytest.mark.parametrize(
    "error",
    [ForgeRejected("A pull request already exists"), ForgeRejected("no commits"),
     ForgeUnavailable("502")],
)  # fmt: skip
def test_forge_refusals_are_forge_error(error: Exception) -> None:
    forge = StubForge(error, [pr(8, "agent/someone-else")])
    with pytest.raises(AttemptFailure) as caught:
        open_pull_request(forge, branch="agent/b-a1", base="main", title="t", body="b")  # type: ignore[arg-type]
    assert caught.value.reason.value == "forge_error"
