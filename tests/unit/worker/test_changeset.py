"""The engine's tree read as data: what cannot be read safely is refused, never a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leviathan_worker import changeset
from leviathan_worker.changeset import Limits, TooLarge, UnsafeTree, printable, read_changes


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("docs/a.md", "docs/a.md"),
        ("docs/é.md", "docs/é.md"),
        ("docs/\udcff.md", "docs/\\xff.md"),
        ("docs/x\n✓ PR created: u", "docs/x\\n✓ PR created: u"),
        ("docs/x\r\x1b[2K", "docs/x\\r\\x1b[2K"),
        ("docs/a\u200bb\u202e", "docs/a\\u200bb\\u202e"),
        ("docs/a\u2028b", "docs/a\\u2028b"),
    ],
)
def test_printable_names_are_one_line_of_text(name: str, shown: str) -> None:
    assert printable(name) == shown


def test_a_special_file_whose_name_is_not_utf8_is_named_printably(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / os.fsdecode(b"pipe\xff"))
    with pytest.raises(UnsafeTree) as caught:
        read_changes(tmp_path, {}, None)
    assert caught.value.path == "pipe\\xff"
    str(caught.value).encode("utf-8")  # fits in a JSON event


def test_a_path_longer_than_the_system_allows_is_refused(tmp_path: Path) -> None:
    folder = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(25):  # 25 x 200 characters: past PATH_MAX (4096)
            os.mkdir("d" * 200, dir_fd=folder)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=folder)
            os.close(folder)
            folder = inner
    finally:
        os.close(folder)
    with pytest.raises(UnsafeTree, match="cannot be read safely"):
        read_changes(tmp_path, {}, None)


def test_a_file_swapped_for_a_symlink_after_the_walk_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.md").write_text("a\n")
    walk = changeset._walk

    def racing(root: Path, limits: Limits):  # type: ignore[no-untyped-def]
        for path, info in walk(root, limits):
            (root / path).unlink()
            (root / path).symlink_to("/etc/passwd")
            yield path, info

    monkeypatch.setattr(changeset, "_walk", racing)
    with pytest.raises(UnsafeTree, match=r"a\.md: cannot be read safely"):
        read_changes(tmp_path, {}, None)


def test_too_many_entries(tmp_path: Path) -> None:
    for n in range(5):
        (tmp_path / f"f{n}").write_text("")
    with pytest.raises(TooLarge):
        read_changes(tmp_path, {}, None, Limits(max_entries=4))
