"""BacklogSource against real repositories: file://, plain paths and smart HTTP with a token."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from git import Repo
from tests.support.git_http import GitHttpServer
from tests.support.gitrepo import commit_files, git, make_target_repo
from tests.support.servers import UvicornThread

from leviathan_adapters.backlog_source import (
    BacklogMissing,
    BacklogSnapshot,
    BacklogSource,
    BacklogUnavailable,
)
from leviathan_adapters.git_auth import basic_auth_header, git_env
from leviathan_core.config import AutonomyConfig
from leviathan_core.settings import Settings

BACKLOG = "tasks:\n  - id: one\n    title: One\n"
TOKEN = "ghp_backlog_source_token"


def source_for(url: str, cache: Path, token: str | None = None, **over: str) -> BacklogSource:
    config = AutonomyConfig.model_validate({"target_id": "demo", "target_repo_url": url, **over})
    settings = Settings(_env_file=None, cache_dir=str(cache), github_token=token)
    return BacklogSource(config, settings)


def object_count(mirror: Path) -> int:
    stats = dict(line.split(": ") for line in git("count-objects", "-v", cwd=mirror).splitlines())
    return int(stats["count"]) + int(stats["in-pack"])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_target_repo(tmp_path, BACKLOG, {"docs/a.md": "a\n"})


def test_first_read_then_warm_reads_fetch_nothing_and_reuse_the_bytes(
    repo: Path, tmp_path: Path
) -> None:
    source = source_for(f"file://{repo}", tmp_path / "cache")
    first = source.read()
    assert (first.data, first.changed) == (BACKLOG.encode(), True)
    assert first.sha == git("rev-parse", "main:.leviathan/backlog.yaml", cwd=repo)
    objects = object_count(source.mirror)
    warm = source.read()
    assert warm.changed is False
    assert warm.data is first.data  # not read again
    assert (warm.sha, warm.commit) == (first.sha, first.commit)
    assert object_count(source.mirror) == objects  # nothing new fetched
    assert git("rev-parse", "--is-shallow-repository", cwd=source.mirror) == "true"


def test_unrelated_commit_is_fetched_but_not_reported_as_changed(
    repo: Path, tmp_path: Path
) -> None:
    source = source_for(str(repo), tmp_path / "cache")  # a plain path works too
    first = source.read()
    commit = commit_files(repo, {"docs/b.md": "b\n"})
    second = source.read()
    assert (second.commit, second.changed, second.sha) == (commit, False, first.sha)
    assert second.data is first.data
    commit_files(repo, {".leviathan/backlog.yaml": BACKLOG + "  - id: two\n    title: Two\n"})
    third = source.read()
    assert third.changed is True
    assert b"id: two" in third.data


def test_a_new_source_on_a_warm_mirror_reports_changed_once(repo: Path, tmp_path: Path) -> None:
    source_for(f"file://{repo}", tmp_path / "cache").read()
    fresh = source_for(f"file://{repo}", tmp_path / "cache")
    assert fresh.read().changed is True
    assert fresh.read().changed is False


def test_missing_backlog_names_path_and_branch(repo: Path, tmp_path: Path) -> None:
    commit_files(repo, {".leviathan/backlog.yaml": None})
    with pytest.raises(
        BacklogMissing, match=r"\.leviathan/backlog\.yaml not found on branch 'main'"
    ):
        source_for(f"file://{repo}", tmp_path / "cache").read()


def test_backlog_path_that_is_a_directory_is_missing(tmp_path: Path) -> None:
    repo = make_target_repo(tmp_path, BACKLOG)
    commit_files(repo, {".leviathan/backlog.yaml": None, ".leviathan/backlog.yaml/x": "x"})
    with pytest.raises(BacklogMissing, match="is not a file"):
        source_for(f"file://{repo}", tmp_path / "cache").read()


def test_missing_branch_and_missing_repository(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(BacklogUnavailable, match="branch 'release' not found") as raised:
        source_for(f"file://{repo}", tmp_path / "cache", target_branch="release").read()
    assert not isinstance(raised.value, BacklogMissing)
    with pytest.raises(BacklogUnavailable, match="git fetch of file:///nowhere"):
        source_for("file:///nowhere/repo.git", tmp_path / "cache2").read()


def test_credentials_in_the_url_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BacklogUnavailable, match="set GITHUB_TOKEN instead") as raised:
        source_for(f"https://x:{TOKEN}@github.com/o/r.git", tmp_path / "cache")
    assert TOKEN not in str(raised.value)


@pytest.fixture
def http_server(repo: Path) -> Iterator[tuple[GitHttpServer, str]]:
    server = GitHttpServer(repo.parent, token=TOKEN)
    with UvicornThread(server.app) as running:
        yield server, f"{running.url}/{repo.name}"


def all_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def test_http_token_travels_as_a_header_and_is_never_stored(
    http_server: tuple[GitHttpServer, str], tmp_path: Path
) -> None:
    server, url = http_server
    source = source_for(url, tmp_path / "cache", token=TOKEN)
    assert source.read().data == BACKLOG.encode()
    assert source.read().changed is False
    assert set(server.auth_seen) == {basic_auth_header(TOKEN).removeprefix("Authorization: ")}
    header = basic_auth_header(TOKEN).split()[-1]
    stored = all_text(source.mirror)
    assert TOKEN not in stored
    assert header not in stored
    assert "extraheader" not in git("config", "--list", "--local", cwd=source.mirror).lower()


def test_wrong_or_missing_token_is_unavailable_and_scrubbed(
    http_server: tuple[GitHttpServer, str], tmp_path: Path
) -> None:
    _, url = http_server
    wrong = "ghp_wrong_token_value"
    with pytest.raises(BacklogUnavailable, match="check GITHUB_TOKEN") as raised:
        source_for(url, tmp_path / "c1", token=wrong).read()
    assert wrong not in str(raised.value)
    with pytest.raises(BacklogUnavailable, match="no GITHUB_TOKEN is set"):
        source_for(url, tmp_path / "c2").read()


def test_worker_style_clone_and_push_with_git_env(
    http_server: tuple[GitHttpServer, str], repo: Path, tmp_path: Path
) -> None:
    _, url = http_server
    clone = Repo.clone_from(
        url, tmp_path / "work", env=git_env(url, TOKEN), depth=1, single_branch=True, branch="main"
    )
    (tmp_path / "work" / "docs" / "new.md").write_text("new\n")
    clone.index.add(["docs/new.md"])
    clone.index.commit("add")
    clone.git.push("origin", "HEAD:refs/heads/agent/pushed", env=git_env(url, TOKEN))
    assert git("show", "agent/pushed:docs/new.md", cwd=repo) == "new"
    config = (tmp_path / "work" / ".git" / "config").read_text()
    assert url in config
    assert TOKEN not in config
    assert TOKEN not in all_text(tmp_path / "work" / ".git")


def _read(url: str, cache: str) -> BacklogSnapshot:
    return source_for(url, Path(cache)).read()


def test_processes_sharing_one_mirror(repo: Path, tmp_path: Path) -> None:
    url, cache = f"file://{repo}", str(tmp_path / "cache")
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        results = list(pool.map(_read, [url] * 8, [cache] * 8))
    assert {r.data for r in results} == {BACKLOG.encode()}
    assert len({r.commit for r in results}) == 1
