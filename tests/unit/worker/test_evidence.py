"""The PR body stays below GitHub's 65,536-character limit whatever the task says."""

from __future__ import annotations

import pytest

from leviathan_core.backlog import TaskEntry, parse_task
from leviathan_worker.evidence import BODY_BUDGET, GITHUB_MAX_BODY, MAX_LISTED, Evidence, pr_body


def task(title: str, criteria: list[str], allowed: list[str], scope: str = "docs") -> TaskEntry:
    entry = parse_task(0, {"id": "t1", "title": title, "scope": scope, "allowed_paths": allowed,
                           "acceptance_criteria": criteria})  # fmt: skip
    assert entry.problem is None, entry.problem
    return entry


def evidence(entry: TaskEntry, paths: list[str], text: str = "x") -> Evidence:
    long = text * 2_000
    return Evidence(entry, "t1", f"attempt-t1-{text * 10}", 2, f"agent/b-{text * 10}", long,
                    paths, f"passed {long}", f"http://cp/{long}")  # fmt: skip


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize("char", ["a", "é", "字", "\U0001f600"])
def test_huge_inputs_stay_below_the_limit(char: str) -> None:
    entry = task(char * 200_000, [char * 10_000] * 5_000, [f"docs/{char * 3_000}/"] * 2_000,
                 scope=char * 50_000)  # fmt: skip
    paths = [f"docs/{i:05}{char * 5_000}.md" for i in range(20_000)]
    body = pr_body(evidence(entry, paths, char))
    assert utf16(body) <= BODY_BUDGET < GITHUB_MAX_BODY
    assert body == pr_body(evidence(entry, paths, char))
    assert body.rstrip().endswith("more (see the commit)")
    assert "more (see `.leviathan/backlog.yaml`)" in body


def test_paths_beyond_the_listed_ones_are_counted() -> None:
    paths = [f"docs/{i:04}.md" for i in range(1_000)]
    body = pr_body(evidence(task("T", ["c"], ["docs/"]), paths))
    listed = [line for line in body.splitlines() if line.startswith("- `docs/")]
    assert listed == [f"- `{p}`" for p in paths[:MAX_LISTED]]
    assert f"- … and {1_000 - MAX_LISTED} more (see the commit)" in body


def test_small_inputs_are_listed_whole() -> None:
    paths = ["docs/a.md", "docs/b.md"]
    body = pr_body(evidence(task("Fix\nlinks", ["one", "two"], ["docs/"]), paths))
    assert "more" not in body
    assert "- **Title:** Fix links" in body
    assert "- [ ] one\n- [ ] two" in body
    assert "- `docs/a.md`\n- `docs/b.md`" in body
    empty = pr_body(evidence(task("T", [], ["docs/"]), []))
    assert "- (none given)" in empty and "- (none)" in empty
