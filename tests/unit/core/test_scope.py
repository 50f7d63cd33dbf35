"""Boundary-safe scope checks: traversal, look-alikes, unicode, case."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leviathan_core.scope import (
    ScopeError,
    diff_violations,
    is_within,
    normalize_path,
    normalize_prefix,
    plan_violations,
)

PREFIXES = [".leviathan/", "docs/"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("docs/a.md", "docs/a.md"),
        ("./docs/a.md", "docs/a.md"),
        ("docs//a.md", "docs/a.md"),
        ("docs/./a.md", "docs/a.md"),
        ("docs/", "docs/"),
        ("docs", "docs"),
        ("Docs/A.md", "Docs/A.md"),
        ("docs/cafe\u0301.md", "docs/caf\u00e9.md"),  # NFD -> NFC
    ],
)
def test_normalize_path_canonical_form(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "/etc/passwd",
        "../docs/a.md",
        "docs/../../etc",
        "docs/..",
        "docs\\a.md",
        "docs/a\x00.md",
        "docs/a\n.md",
        "docs/\u202ea.md",  # right-to-left override
        "C:/docs/a.md",
        ".",
        "./",
    ],
)
def test_normalize_path_refuses_unsafe(raw: str) -> None:
    with pytest.raises(ScopeError):
        normalize_path(raw)


@pytest.mark.parametrize(
    ("prefix", "expected"), [("docs", "docs/"), ("docs/", "docs/"), ("./.leviathan", ".leviathan/")]
)
def test_prefix_always_names_a_folder(prefix: str, expected: str) -> None:
    assert normalize_prefix(prefix) == expected


@pytest.mark.parametrize(
    ("path", "folder", "inside"),
    [
        ("docs/a.md", "docs/", True),
        ("docs", "docs/", True),
        ("docs/", "docs/", True),
        ("docsx/a.md", "docs/", False),
        ("docs.md", "docs/", False),
        ("doc/a.md", "docs/", False),
        ("Docs/a.md", "docs/", False),
        (".leviathanx/a", ".leviathan/", False),
        ("docs/sub/deep/a.md", "docs/", True),
    ],
)
def test_is_within_is_segment_based(path: str, folder: str, inside: bool) -> None:
    assert is_within(path, folder) is inside


@pytest.mark.parametrize(
    ("paths", "bad"),
    [
        (["docs/README.md"], []),
        (["docs/"], []),
        ([".leviathan/notes.md", "docs/a/"], []),
        (["docsx/a.md"], ["docsx/a.md"]),
        (["src/core.py", "docs/a.md"], ["src/core.py"]),
        (["docs/../src/a.py"], ["docs/../src/a.py"]),
        (["/docs/a.md"], ["/docs/a.md"]),
        (["ｄocs/a.md"], ["ｄocs/a.md"]),  # full-width look-alike
        (["DOCS/a.md"], ["DOCS/a.md"]),
    ],
)
def test_plan_violations(paths: list[str], bad: list[str]) -> None:
    assert [v.path for v in plan_violations(paths, PREFIXES)] == bad


def test_diff_violations_allows_task_paths_and_bookkeeping_only() -> None:
    changed = [
        "docs/README.md",
        ".leviathan/backlog.yaml",
        ".leviathan/proposals/t.md",
        "docs/other.md",
        "src/x.py",
        "docsx/a.md",
    ]
    bookkeeping = [".leviathan/backlog.yaml", ".leviathan/proposals/t.md"]
    violations = diff_violations(changed, ["docs/README.md"], PREFIXES, bookkeeping)
    assert {v.path: v.reason for v in violations} == {
        "docs/other.md": "not in the task's allowed_paths",
        "src/x.py": "outside the target's allowed prefixes",
        "docsx/a.md": "outside the target's allowed prefixes",
    }


def test_diff_violations_folder_entry_covers_children_only() -> None:
    violations = diff_violations(["docs/api/a.md", "docs/apix.md"], ["docs/api/"], PREFIXES)
    assert [v.path for v in violations] == ["docs/apix.md"]


def test_bookkeeping_outside_prefixes_is_still_a_violation() -> None:
    violations = diff_violations(
        [".leviathan/backlog.yaml"], ["docs/a.md"], ["docs/"], [".leviathan/backlog.yaml"]
    )
    assert [v.reason for v in violations] == ["outside the target's allowed prefixes"]


segment = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=8)
path_text = st.lists(
    st.one_of(segment, st.sampled_from(["..", ".", "", "docs", "docsx"])), min_size=1, max_size=6
).map("/".join)


@given(path_text)
def test_no_generated_path_escapes_the_prefix(raw: str) -> None:
    """Whatever is accepted must, as a resolved POSIX path, stay under docs/."""
    import posixpath

    if plan_violations([raw], ["docs/"]):
        return
    resolved = posixpath.normpath(posixpath.join("/repo", raw))
    assert resolved == "/repo/docs" or resolved.startswith("/repo/docs/")
    assert "\\" not in raw and "\x00" not in raw


@given(st.text(min_size=1, max_size=30))
def test_accepted_diff_paths_never_escape(raw: str) -> None:
    import posixpath

    if diff_violations([raw], ["docs/"], ["docs/"]):
        return
    resolved = posixpath.normpath(posixpath.join("/repo", raw))
    assert resolved == "/repo/docs" or resolved.startswith("/repo/docs/")
