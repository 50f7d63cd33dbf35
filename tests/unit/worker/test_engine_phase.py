"""The engine phase's two files the publisher reads: result.json (untrusted) and the
group-shared tree the Job's engine container writes as another uid."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from leviathan_worker.engine_phase import (
    MAX_RESULT_BYTES,
    EngineOutcome,
    read_outcome,
    share_with_group,
    write_outcome,
)
from leviathan_worker.layout import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    layout = Layout.of(tmp_path, "attempt-x")
    layout.engine.mkdir(parents=True)
    return layout


def test_an_outcome_round_trips(layout: Layout) -> None:
    write_outcome(layout, EngineOutcome(False, "exit 3"))
    assert read_outcome(layout) == EngineOutcome(False, "exit 3")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "does not parse"),
        (b"[1, 2]", "refused: the result is not an object"),
        (b'{"ok": "yes"}', "refused: ok is not a boolean"),
        (b'{"message": "no verdict"}', "refused: the result lacks ok"),
        (b"x" * (MAX_RESULT_BYTES + 1), "not a small regular file"),
    ],
)
def test_a_bad_result_counts_as_a_failed_engine(
    layout: Layout, content: bytes, expected: str
) -> None:
    layout.result.write_bytes(content)
    outcome = read_outcome(layout)
    assert outcome.ok is False and expected in outcome.message


def test_a_missing_result_is_a_crashed_engine(layout: Layout) -> None:
    assert read_outcome(layout) == EngineOutcome(
        False, "the engine phase left no result (it was killed or crashed)"
    )


def test_a_result_that_is_a_symlink_is_not_followed(layout: Layout, tmp_path: Path) -> None:
    elsewhere = tmp_path / "forged.json"
    elsewhere.write_text('{"ok": true}')
    layout.result.symlink_to(elsewhere)
    assert read_outcome(layout).ok is False


def test_sharing_makes_the_tree_group_writable_and_leaves_links_alone(
    layout: Layout, tmp_path: Path
) -> None:
    (layout.target / "docs").mkdir(parents=True)
    (layout.target / "docs" / "a.md").write_text("x")
    (layout.target / "docs" / "a.md").chmod(0o644)
    outside = tmp_path / "outside.txt"
    outside.write_text("y")
    outside.chmod(0o600)
    (layout.target / "link").symlink_to(outside)
    share_with_group(layout.engine)
    assert stat.S_IMODE((layout.target / "docs" / "a.md").stat().st_mode) == 0o664
    assert stat.S_IMODE((layout.target / "docs").stat().st_mode) == 0o2775
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o600
