"""Pure helpers of the local forge: URL to path, and git diff output parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from leviathan_adapters.forge.local import local_repo_path, parse_name_status


@pytest.mark.parametrize(
    ("output", "paths"),
    [
        ("", []),
        ("M\0docs/a.md\0", ["docs/a.md"]),
        ("A\0docs/new.md\0D\0docs/old.md\0", ["docs/new.md", "docs/old.md"]),
        ("R100\0docs/a.md\0src/a.md\0M\0x\0", ["docs/a.md", "src/a.md", "x"]),
        ("C075\0docs/a.md\0docs/b.md\0", ["docs/a.md", "docs/b.md"]),
        (
            "T\0docs/link\0M\0docs/with\ttab and space.md\0",
            ["docs/link", "docs/with\ttab and space.md"],
        ),
        ("M\0a\0M\0a\0", ["a"]),
    ],
)
def test_parse_name_status(output: str, paths: list[str]) -> None:
    assert parse_name_status(output) == paths


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("file:///srv/x.git", "/srv/x.git"),
        ("/srv/x.git", "/srv/x.git"),
        ("file:///srv/with%20space.git", "/srv/with space.git"),
    ],
)
def test_local_repo_path(url: str, path: str) -> None:
    assert local_repo_path(url) == Path(path)


def test_local_repo_path_refuses_remote_urls() -> None:
    with pytest.raises(ValueError, match="not a file:// URL"):
        local_repo_path("https://github.com/o/r")
