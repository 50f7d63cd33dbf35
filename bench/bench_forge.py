"""Forge reads and backlog reads, the two I/O facts of every select cycle.

- ``open_agent_prs`` over 500 open PRs on the GitHub fake (real PyGithub over a
  socket): a cold read, a warm read answered by 304s, and how many requests of
  an idle tick count against the rate limit (issue target: at most 2).
- The same count on the LocalForge store.
- The backlog read of a repository with 3,000 commits and 3,000 files: the
  cached shallow mirror (cold, then warm) against the naive way of cloning the
  whole repository each tick, and the ratio between them.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.github_fake import GitHubFake
from tests.support.gitrepo import commit_files, make_big_repo, make_target_repo
from tests.support.servers import UvicornThread

from bench.rows import row
from leviathan_adapters.backlog_source import BacklogSource
from leviathan_adapters.forge.github import GitHubForge
from leviathan_adapters.forge.local import LocalForge
from leviathan_core.config import AutonomyConfig
from leviathan_core.settings import Settings

REPO = "bench/site"
OPEN_PRS = 500
BACKLOG = "tasks:\n" + "".join(
    f"  - id: task-{i}\n    title: Task {i}\n    ready: false\n    allowed_paths: [docs/]\n"
    for i in range(200)
)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def github_rows() -> list[dict[str, Any]]:
    fake = GitHubFake(token="bench-token")
    fake.add_repo(REPO)
    for n in range(OPEN_PRS):
        branch = f"agent/backlog-propose-attempt-t{n}-{n:08x}" if n % 2 else f"feature/{n}"
        fake.add_pull(REPO, branch)
    with UvicornThread(fake.app) as server:
        forge = GitHubForge(REPO, "bench-token", api_url=server.url)
        started = time.perf_counter()
        found = forge.open_agent_prs()
        cold = (time.perf_counter() - started) * 1000
        assert len(found) == OPEN_PRS // 2
        before = len(fake.counted())
        warm = median_ms(forge.open_agent_prs, 5)
        idle_cost = (len(fake.counted()) - before) / 5
    return [
        row(f"github open_agent_prs, {OPEN_PRS} open PRs, cold (5 pages)", cold, "ms"),
        row(f"github open_agent_prs, {OPEN_PRS} open PRs, warm (all 304)", warm, "ms"),
        row(
            "github idle tick: requests counted against the rate limit",
            idle_cost,
            "requests",
            target=2,
        ),
    ]


def local_forge_rows(tmp: Path) -> list[dict[str, Any]]:
    repo = make_target_repo(tmp, "tasks: []\n")
    forge = LocalForge(repo, tmp / "store")
    for n in range(50):
        branch = f"agent/backlog-propose-attempt-t{n}-{n:08x}"
        commit_files(repo, {f"docs/{n}.md": str(n)}, branch=branch)
        forge.create_pull_request(branch=branch, base="main", title=str(n), body="")
    return [
        row("local forge open_agent_prs, 50 open PRs", median_ms(forge.open_agent_prs, 20), "ms")
    ]


def backlog_rows(tmp: Path) -> list[dict[str, Any]]:
    repo = make_big_repo(tmp / "big.git", commits=3000, files=3000, backlog_yaml=BACKLOG)
    url = f"file://{repo}"
    config = AutonomyConfig(target_id="bench", target_repo_url=url)
    source = BacklogSource(config, Settings(_env_file=None, cache_dir=str(tmp / "cache")))
    started = time.perf_counter()
    source.read()
    cold = (time.perf_counter() - started) * 1000
    warm = median_ms(source.read, 10)
    counter = iter(range(1_000_000))

    def naive() -> bytes:
        dest = tmp / f"clone-{next(counter)}"
        subprocess.run(["git", "clone", "--quiet", url, str(dest)], check=True)
        return (dest / ".leviathan" / "backlog.yaml").read_bytes()

    full = median_ms(naive, 3)
    return [
        row("backlog read, cold mirror (3,000 commits, 3,000 files)", cold, "ms"),
        row("backlog read, warm mirror, unchanged backlog", warm, "ms"),
        row("backlog read, naive full clone per tick", full, "ms"),
        row(
            "backlog read speed-up, warm mirror vs full clone",
            full / warm,
            "x",
            target=10,
            lower_is_better=False,
        ),
    ]


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="leviathan-bench-forge-") as folder:
        tmp = Path(folder)
        return [*github_rows(), *local_forge_rows(tmp / "local"), *backlog_rows(tmp)]


if __name__ == "__main__":
    for item in run():
        print(item)
