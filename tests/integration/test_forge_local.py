"""LocalForge against real bare repositories, from one and from several processes."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from tests.support.gitrepo import commit_files, git, make_target_repo

from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.local import LocalForge
from leviathan_adapters.forge.local_cli import main

BACKLOG = "tasks:\n  - id: fix-docs\n    title: Fix docs\n    ready: true\n"
BRANCH = "agent/backlog-propose-attempt-fix-docs-0a1b2c3d"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_target_repo(tmp_path, BACKLOG, {"docs/a.md": "a\n", "docs/keep.md": "k\n"})


@pytest.fixture
def forge(repo: Path, tmp_path: Path) -> LocalForge:
    return LocalForge(repo, tmp_path / "store")


def open_pr(forge: LocalForge, branch: str = BRANCH) -> int:
    return forge.create_pull_request(branch=branch, base="main", title="T", body="evidence").number


def test_create_is_idempotent_and_maps_the_attempt(repo: Path, forge: LocalForge) -> None:
    commit_files(repo, {"docs/a.md": "changed\n"}, branch=BRANCH)
    first = forge.create_pull_request(branch=BRANCH, base="main", title="T", body="B")
    again = forge.create_pull_request(branch=BRANCH, base="main", title="T", body="B")
    assert again == first
    assert (first.number, first.state, first.task_id) == (1, "open", "fix-docs")
    assert first.attempt_id == "attempt-fix-docs-0a1b2c3d"
    assert first.url == f"file://{forge.store_dir.resolve()}/pulls/1"
    view = Path(first.url.removeprefix("file://")).read_text()
    assert "Pull request #1 [open]" in view
    assert view.endswith("\n\nB\n")


def test_create_refuses_missing_branches_and_empty_ones(repo: Path, forge: LocalForge) -> None:
    with pytest.raises(ForgeRejected, match="does not exist"):
        open_pr(forge, "agent/missing")
    git("branch", "agent/empty", "main", cwd=repo)
    with pytest.raises(ForgeRejected, match="no commits between"):
        open_pr(forge, "agent/empty")
    commit_files(repo, {"docs/x.md": "x"}, branch="agent/ok")
    with pytest.raises(ForgeRejected, match="base branch 'develop'"):
        forge.create_pull_request(branch="agent/ok", base="develop", title="T", body="")
    assert forge.open_agent_prs() == []


def test_open_agent_prs_skips_other_branches_and_closed_prs(repo: Path, forge: LocalForge) -> None:
    for name in ("agent/one", "agent/two", "feature/three"):
        commit_files(repo, {f"docs/{name.split('/')[1]}.md": name}, branch=name)
        open_pr(forge, name)
    forge.close_pull_request(2)
    assert [p.branch for p in forge.open_agent_prs()] == ["agent/one"]
    assert forge.get_pull_request(2).state == "closed"
    assert forge.get_pull_request(3).state == "open"


def test_files_list_adds_deletes_and_both_sides_of_renames(repo: Path, forge: LocalForge) -> None:
    commit_files(
        repo,
        {"docs/new.md": "n\n", "docs/keep.md": None},
        branch=BRANCH,
        renames={"docs/a.md": "notes/a.md"},
    )
    commit_files(repo, {"docs/unrelated-on-main.md": "m\n"})  # base moves on meanwhile
    number = open_pr(forge)
    assert sorted(forge.pull_request_files(number)) == [
        "docs/a.md",
        "docs/keep.md",
        "docs/new.md",
        "notes/a.md",
    ]


def test_merge_is_a_real_merge_and_files_survive_it(repo: Path, forge: LocalForge) -> None:
    commit_files(
        repo, {".leviathan/backlog.yaml": BACKLOG + "    status: completed\n"}, branch=BRANCH
    )
    commit_files(repo, {"docs/main-only.md": "m\n"})
    number = open_pr(forge)
    merged = forge.close_pull_request(number, merged=True)
    assert merged.state == "merged"
    assert "status: completed" in git("show", "main:.leviathan/backlog.yaml", cwd=repo)
    assert git("show", "main:docs/main-only.md", cwd=repo) == "m"
    assert len(git("rev-list", "--parents", "-n1", "main", cwd=repo).split()) == 3
    assert forge.open_agent_prs() == []
    assert forge.pull_request_files(number) == [".leviathan/backlog.yaml"]
    assert forge.close_pull_request(number, merged=True).state == "merged"  # idempotent
    forge.delete_branch(BRANCH)
    assert forge.pull_request_files(number) == [".leviathan/backlog.yaml"]


def test_merge_conflict_is_rejected_and_leaves_the_pr_open(repo: Path, forge: LocalForge) -> None:
    commit_files(repo, {"docs/a.md": "branch side\n"}, branch=BRANCH)
    commit_files(repo, {"docs/a.md": "main side\n"})
    number = open_pr(forge)
    before = git("rev-parse", "main", cwd=repo)
    with pytest.raises(ForgeRejected, match="conflicts"):
        forge.close_pull_request(number, merged=True)
    assert git("rev-parse", "main", cwd=repo) == before
    assert forge.get_pull_request(number).state == "open"
    forge.close_pull_request(number)
    with pytest.raises(ForgeRejected, match="closed; cannot merge"):
        forge.close_pull_request(number, merged=True)


def test_a_new_pr_after_close_gets_a_new_number(repo: Path, forge: LocalForge) -> None:
    commit_files(repo, {"docs/a.md": "1\n"}, branch=BRANCH)
    first = open_pr(forge)
    forge.close_pull_request(first)
    assert open_pr(forge) == first + 1


def test_delete_branch(repo: Path, forge: LocalForge) -> None:
    commit_files(repo, {"docs/a.md": "1\n"}, branch=BRANCH)
    assert forge.delete_branch(BRANCH) is True
    assert forge.delete_branch(BRANCH) is False
    with pytest.raises(ForgeRejected, match="default branch"):
        forge.delete_branch("main")
    with pytest.raises(ForgeRejected, match="invalid branch"):
        forge.delete_branch("--all")


def test_a_pr_whose_branch_is_deleted_outside_the_forge_reads_as_closed(
    repo: Path, forge: LocalForge
) -> None:
    commit_files(repo, {"docs/a.md": "1\n"}, branch=BRANCH)
    number = open_pr(forge)
    commit_files(repo, {"docs/late.md": "2\n"}, branch=BRANCH)  # the branch moves on
    assert forge.get_pull_request(number).state == "open"
    git("update-ref", "-d", f"refs/heads/{BRANCH}", cwd=repo)  # as a push --delete does
    assert forge.open_agent_prs() == []
    assert forge.get_pull_request(number).state == "closed"
    assert sorted(forge.pull_request_files(number)) == ["docs/a.md", "docs/late.md"]
    view = Path(forge.get_pull_request(number).url.removeprefix("file://")).read_text()
    assert f"Pull request #{number} [closed]" in view
    with pytest.raises(ForgeRejected, match="closed; cannot merge"):
        forge.close_pull_request(number, merged=True)
    commit_files(repo, {"docs/a.md": "3\n"}, branch=BRANCH)  # pushed again: no reopening
    assert forge.get_pull_request(number).state == "closed"
    again = open_pr(forge)
    assert again != number
    assert [p.number for p in forge.open_agent_prs()] == [again]


def test_deleting_a_branch_closes_only_its_open_pr(repo: Path, forge: LocalForge) -> None:
    for name in ("agent/one", "agent/two"):
        commit_files(repo, {f"docs/{name[6:]}.md": name}, branch=name)
    one, two = open_pr(forge, "agent/one"), open_pr(forge, "agent/two")
    assert forge.delete_branch("agent/one") is True
    assert forge.get_pull_request(one).state == "closed"
    assert forge.get_pull_request(two).state == "open"
    assert forge.pull_request_files(one) == ["docs/one.md"]
    forge.close_pull_request(two, merged=True)
    assert forge.delete_branch("agent/two") is True
    assert forge.get_pull_request(two).state == "merged"  # a merged PR stays merged


def test_unknown_pr_and_missing_repository(tmp_path: Path, forge: LocalForge) -> None:
    with pytest.raises(ForgeRejected, match="no pull request #9"):
        forge.get_pull_request(9)
    ghost = LocalForge(tmp_path / "nowhere.git", tmp_path / "store2")
    with pytest.raises(ForgeUnavailable, match="not a git repository"):
        ghost.create_pull_request(branch="agent/x", base="main", title="T", body="")


def test_unwritable_store_is_unavailable(tmp_path: Path, repo: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises(ForgeUnavailable, match="cannot open the local forge store"):
        LocalForge(repo, blocker / "store").open_agent_prs()


def _create_many(repo: str, store: str, branches: list[str]) -> list[int]:
    forge = LocalForge(Path(repo), Path(store))
    return [open_pr(forge, branch) for branch in branches]


def test_several_processes_share_one_store(repo: Path, tmp_path: Path) -> None:
    shared = "agent/backlog-propose-attempt-shared-00000000"
    commit_files(repo, {"docs/s.md": "s"}, branch=shared)
    own = [f"agent/p{p}-{i}" for p in range(4) for i in range(3)]
    for branch in own:
        commit_files(repo, {f"docs/{branch[6:]}.md": branch}, branch=branch)
    store = str(tmp_path / "store")
    jobs = [[shared, *own[p * 3 : p * 3 + 3], shared] for p in range(4)]
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        results = list(pool.map(_create_many, [str(repo)] * 4, [store] * 4, jobs))
    shared_numbers = {numbers[0] for numbers in results} | {numbers[-1] for numbers in results}
    assert len(shared_numbers) == 1  # one PR for the branch, whoever came first
    forge = LocalForge(repo, Path(store))
    prs = forge.open_agent_prs()
    assert len(prs) == 13
    assert len({p.number for p in prs}) == 13
    assert sorted(p.branch for p in prs) == sorted([shared, *own])


def test_local_cli_lists_merges_and_closes(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text(f"target_id: demo\ntarget_repo_url: file://{repo}\nforge: local\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEVIATHAN_DATA_DIR", str(tmp_path / "data"))
    forge = LocalForge(repo, tmp_path / "data" / "forge" / "demo")
    for name in ("agent/one", "agent/two"):
        commit_files(repo, {f"docs/{name[6:]}.md": name}, branch=name)
        open_pr(forge, name)
    base = ["--config", str(config), "--target", "demo"]
    assert main([*base, "merge", "1"]) == 0
    assert main([*base, "close", "2"]) == 0
    assert main([*base, "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("#1 is merged: file://")
    assert out[2].split("\t")[:3] == ["#1", "merged", "agent/one"]
    assert out[3].split("\t")[:3] == ["#2", "closed", "agent/two"]
    assert git("show", "main:docs/one.md", cwd=repo) == "agent/one"
    assert main([*base, "merge", "2"]) == 1
    assert "closed; cannot merge" in capsys.readouterr().err
    assert main(["--config", str(config), "--target", "nope", "list"]) == 2
