"""Worker wall time for backlog-propose on a big local repository; shallow vs full clone;
what the command engine's sandbox adds to a docs task.

The target has 5,000 commits and 10,000 files (built with ``git fast-import``).
The attempt runs in-process against the real control plane under uvicorn and
the local forge, so the number is the worker's own work: clone, change,
verify, commit, push, PR, events. The clone comparison shows why the worker
clones with depth 1: its cost follows the tree, not the history.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.control_plane import running_control_plane
from tests.support.gitrepo import make_big_repo
from tests.support.worker_harness import BACKLOG, TASK, WorkerHarness, attempt_id_for

from leviathan_worker.clone import clone_target, populate
from leviathan_worker.engines import command as command_engine
from leviathan_worker.sandbox import sandbox_unavailable

COMMITS = 5_000
FILES = 10_000
SANDBOX_RUNS = 7
DOCS_EDIT = ["sh", "-c", "printf '\\n- [docs](docs/index.md)\\n' >> docs/README.md"]


def _row(name: str, value: float, unit: str, target: float | None) -> dict[str, Any]:
    return {"name": name, "value": round(value, 4), "unit": unit, "target": target,
            "lower_is_better": True}  # fmt: skip


def _timed(action: Any) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _full_clone(bare: Path, destination: Path) -> None:
    """The same clone as the worker's, but with the whole history."""
    subprocess.run(
        ["git", "clone", "-q", "--single-branch", "--branch", "main", "--no-checkout",
         "--no-tags", f"file://{bare}", str(destination)],
        check=True, capture_output=True,
    )  # fmt: skip


def _clone_rows(bare: Path, scratch: Path) -> list[dict[str, Any]]:
    shallow = _timed(lambda: clone_target(str(bare), "main", scratch / "s", None))
    full = _timed(lambda: _full_clone(bare, scratch / "f"))
    sparse_checkout = clone_target(str(bare), "main", scratch / "p", None)
    sparse = _timed(lambda: populate(sparse_checkout, [".leviathan/", "docs/README.md"]))
    whole_checkout = clone_target(str(bare), "main", scratch / "w", None)
    whole = _timed(lambda: populate(whole_checkout, None))
    return [
        _row("worker_clone_shallow", shallow, "s", None),
        _row("worker_clone_full_history", full, "s", None),
        _row("worker_clone_shallow_vs_full_ratio", shallow / full, "ratio", None),
        _row("worker_checkout_sparse", sparse, "s", None),
        _row("worker_checkout_all_files", whole, "s", None),
    ]


@contextmanager
def _no_sandbox() -> Iterator[None]:
    """The baseline: the same command without bubblewrap (as allow_unsandboxed_engine)."""
    original = command_engine.sandbox_unavailable
    command_engine.sandbox_unavailable = lambda: "benchmark baseline"
    try:
        yield
    finally:
        command_engine.sandbox_unavailable = original


def _docs_attempt(root: Path, cp: Any, index: int) -> float:
    """Wall time of one whole attempt whose command appends a line to docs/README.md."""
    harness = WorkerHarness(root / f"docs-{index}", cp)
    config = harness.config(
        change_engine="command", change_command=DOCS_EDIT, allow_unsandboxed_engine=True
    )
    started = time.perf_counter()
    code, output = harness.run(attempt_id_for(TASK, f"{index:08x}"), config=config)
    wall = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"the docs attempt failed:\n{output}")
    return wall


def _sandbox_rows(root: Path, cp: Any) -> list[dict[str, Any]]:
    """Median of interleaved runs with and without the sandbox, so drift hits both."""
    if sandbox_unavailable() is not None:
        return []
    sandboxed, plain = [], []
    for index in range(SANDBOX_RUNS):
        sandboxed.append(_docs_attempt(root, cp, 2 * index))
        with _no_sandbox():
            plain.append(_docs_attempt(root, cp, 2 * index + 1))
    with_sandbox, without = statistics.median(sandboxed), statistics.median(plain)
    return [
        _row("worker_docs_task_sandboxed_wall", with_sandbox, "s", None),
        _row("worker_docs_task_unsandboxed_wall", without, "s", None),
        _row("worker_sandbox_added_wall", with_sandbox - without, "s", 0.5),
    ]


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="leviathan-bench-worker-") as tmp:
        root = Path(tmp)
        build = _timed(
            lambda: make_big_repo(
                root / "big.git", commits=COMMITS, files=FILES, backlog_yaml=BACKLOG
            )
        )
        with running_control_plane(root / "cp") as cp:
            harness = WorkerHarness(root, cp, existing_repo=root / "big.git")
            started = time.perf_counter()
            code, output = harness.run(attempt_id_for(TASK))
            wall = time.perf_counter() - started
            if code != 0:
                raise RuntimeError(f"the benchmark attempt failed:\n{output}")
            sandbox = _sandbox_rows(root / "sandbox", cp)
        clones = _clone_rows(root / "big.git", root / "clones")
    return [
        _row("worker_backlog_propose_wall", wall, "s", 3.0),
        *sandbox,
        *clones,
        _row("worker_bench_repo_build", build, "s", None),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
