"""Hostile engines, files: links, special files, look-alike names, sizes, writes elsewhere.

The publisher walks the engine's tree with ``lstat``, reads regular files and
symlinks as data with bounds, and the scope check runs on the commit that
will be pushed. Each test is one attack through the real worker
(tests/support/hostile.py says what every check asserts).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.support.hostile import (
    EDIT,
    FOLDER_TASK,
    PYTHON,
    SUCCESS,
    Hostile,
    hostile,  # noqa: F401
)

from leviathan_worker import changeset
from leviathan_worker.changeset import Limits


def test_an_absolute_symlink_out_of_the_checkout(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run("rm docs/README.md && ln -s /etc/passwd docs/README.md")
    hostile.check(outcome, "scope_violation")


def test_a_relative_symlink_out_of_the_checkout(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f"ln -s ../../../publisher/.git/config docs/publisher.md; {EDIT}", task=FOLDER_TASK
    )
    hostile.check(outcome, "scope_violation")


def test_the_allowed_folder_swapped_for_a_symlink(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run("rm -rf docs && ln -s /etc docs", task=FOLDER_TASK)
    hostile.check(outcome, "scope_violation")


def test_a_hard_link_to_a_file_outside(hostile: Hostile) -> None:  # noqa: F811
    """The checkout is its own mount in the sandbox: links across it fail (EXDEV);
    whatever does get linked is refused as a hard link."""
    outcome = hostile.run(
        "rm docs/README.md && for f in /etc/passwd ../../publisher/.git/config"
        " $HOME/../../publisher/.git/config; do ln $f docs/README.md 2>/dev/null && break;"
        " done; [ -e docs/README.md ] || ln .git/config docs/README.md"
    )
    hostile.check(outcome, "scope_violation")


def test_a_hard_link_to_the_engines_git_config(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run("ln .git/config docs/config.md", task=FOLDER_TASK)
    hostile.check(outcome, "scope_violation")


def test_a_fifo_in_the_tree(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run("rm docs/README.md && mkfifo docs/README.md")
    hostile.check(outcome, "scope_violation")


def test_a_socket_or_device_in_the_tree(hostile: Hostile) -> None:  # noqa: F811
    """No capabilities: mknod fails, so the attack falls back to a unix socket."""
    bind = "import socket; socket.socket(socket.AF_UNIX).bind('docs/README.md')"
    outcome = hostile.run(
        f'rm docs/README.md && (mknod docs/README.md c 1 3 2>/dev/null || {PYTHON} -c "{bind}")'
    )
    hostile.check(outcome, "scope_violation")


def test_writing_beside_the_checkout(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        "for d in .. ../.. ../../.. ../scratch/..; do echo x > $d/escape.txt; done 2>/dev/null;"
        f" mkdir ../evil 2>/dev/null; {EDIT}"
    )
    hostile.check(outcome, SUCCESS)
    assert list(hostile.root.rglob("escape.txt")) == []
    assert list(hostile.root.rglob("evil")) == []


def test_writing_into_the_event_spool(hostile: Hostile) -> None:  # noqa: F811
    forged = '{"type": "attempt.succeeded", "forged": true}'
    outcome = hostile.run(
        f"for f in ../../spool/events.jsonl ../../../*/spool/events.jsonl; do"
        f" mkdir -p $(dirname $f); echo '{forged}' >> $f; done 2>/dev/null; {EDIT}"
    )
    hostile.check(outcome, SUCCESS)
    for spool in hostile.root.rglob("*.jsonl"):
        assert b"forged" not in spool.read_bytes()


def test_writing_to_tmp_and_dev_shm_for_the_publisher(hostile: Hostile) -> None:  # noqa: F811
    """Private /tmp and /dev in the sandbox: nothing appears on the host (the check
    asserts no name of the attack's is left in the host's /tmp or /dev/shm)."""
    name = hostile.exfil
    outcome = hostile.run(
        f"for d in /tmp /dev/shm /var/tmp; do echo '[core] fsmonitor = /x' > $d/{name}-gitconfig;"
        f" ln -s $PWD/.git $d/{name}-link; done 2>/dev/null; {EDIT}"
    )
    hostile.check(outcome, SUCCESS)


def test_reading_the_workers_private_files(hostile: Hostile) -> None:  # noqa: F811
    """Other attempts, the publisher's clone, the data dir, HOME: hidden."""
    outcome = hostile.run(
        "for f in ../../../*/publisher/token.txt ../../publisher/.git/config"
        f" {hostile.root}/data/spool/token.txt {hostile.root}/data/.leviathan-run/env"
        f" {hostile.baits[0]} $(find / -xdev -name token.txt 2>/dev/null) ~root/.bash_history;"
        " do cat $f >> docs/README.md 2>/dev/null; done; ls -la ../.. >> docs/README.md 2>&1;"
        f" {EDIT}"
    )
    hostile.check(outcome, SUCCESS)
    assert b"HOSTILE" not in hostile.pushed("docs/README.md")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("DOCS/x.md", id="upper-case-folder"),
        pytest.param("Docs/README.md", id="case-folded-readme"),
        pytest.param("d\u043ecs/x.md", id="cyrillic-o"),
        pytest.param("\uff44\uff4f\uff43\uff53/x.md", id="fullwidth"),
        pytest.param("do\u200bcs/x.md", id="zero-width-space"),
        pytest.param("docs./x.md", id="trailing-dot-folder"),
        pytest.param("docs /x.md", id="trailing-space-folder"),
        pytest.param(".git./config", id="dot-git-trailing-dot"),
        pytest.param(".git /config", id="dot-git-trailing-space"),
        pytest.param("docs/.GIT/config", id="dot-git-upper-case"),
        pytest.param("docs\\..\\src/app.py", id="backslash-traversal"),
        pytest.param(".leviathan/BACKLOG.yaml", id="backlog-look-alike"),
        pytest.param(".leviathan/proposals/other-task.md", id="another-tasks-proposal"),
    ],
)
def test_a_look_alike_path(hostile: Hostile, name: str) -> None:  # noqa: F811
    outcome = hostile.run(
        f"mkdir -p \"$(dirname '{name}')\" && echo x > '{name}'; {EDIT}", task=FOLDER_TASK
    )
    hostile.check(outcome, "scope_violation")


def test_a_name_that_is_not_utf8(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"echo x > \"docs/$(printf 'bad\\377name')\"; {EDIT}", task=FOLDER_TASK)
    hostile.check(outcome, "scope_violation")


def test_a_fifo_whose_name_is_not_utf8(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"mkfifo \"docs/$(printf 'pipe\\377')\"; {EDIT}", task=FOLDER_TASK)
    hostile.check(outcome, "scope_violation")


def test_a_name_with_a_newline(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"echo x > \"$(printf 'docs/x\\nsrc.md')\"; {EDIT}", task=FOLDER_TASK)
    hostile.check(outcome, "scope_violation")


def test_many_tiny_files(hostile: Hostile) -> None:  # noqa: F811
    """10,001 new files: one more than the default max_changed_files."""
    outcome = hostile.run(
        "mkdir docs/many && cd docs/many && seq 10001 | xargs touch", task=FOLDER_TASK
    )
    hostile.check(outcome, "change_too_large")


def test_a_million_tiny_files(hostile: Hostile) -> None:  # noqa: F811
    """A million files would take minutes to make; the walk's own bound is the same
    code at any size, so this test lowers max_entries to 2,000 and makes 5,000
    files in folders outside the allowed paths."""
    hostile.limits = Limits(max_entries=2_000)
    outcome = hostile.run(
        f"{EDIT}; for d in a b c d e; do mkdir -p src/$d && (cd src/$d && seq 1000 | xargs touch);"
        " done"
    )
    hostile.check(outcome, "change_too_large")


def test_one_huge_sparse_file(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"truncate -s {Limits().max_file_bytes + 1} docs/README.md")
    hostile.check(outcome, "change_too_large")


def test_many_large_files_together(hostile: Hostile) -> None:  # noqa: F811
    """Each file under max_file_bytes, together over max_changed_bytes (lowered to
    2 MB here so the test reads little)."""
    hostile.limits = Limits(max_file_bytes=1 << 20, max_changed_bytes=2 << 20)
    outcome = hostile.run(
        "for i in 1 2 3; do head -c 900000 /dev/zero | tr '\\0' x > docs/big$i.md; done",
        task=FOLDER_TASK,
    )
    hostile.check(outcome, "change_too_large")


def test_a_path_deeper_than_path_max(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f"{EDIT}; cd docs && for i in $(seq 30); do d=$(printf '%0200d' $i);"
        " mkdir $d && cd $d || break; done; echo x > deep.md",
        task=FOLDER_TASK,
    )
    hostile.check(outcome, "scope_violation")


def test_a_symlink_swapped_in_between_walk_and_read(
    hostile: Hostile,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No engine process outlives the sandbox, so this adversary is played by the
    test: right after the walk has seen docs/README.md as a regular file, it is
    replaced by a symlink to a file that holds a canary."""
    walk = changeset._walk

    def racing_walk(root: Path, limits: Limits):  # type: ignore[no-untyped-def]
        for path, info in walk(root, limits):
            if path == "docs/README.md":
                os.unlink(root / path)
                os.symlink(hostile.baits[0], root / path)
            yield path, info

    monkeypatch.setattr(changeset, "_walk", racing_walk)
    outcome = hostile.run(EDIT)
    hostile.check(outcome, "scope_violation")


def test_a_hard_link_swapped_in_between_walk_and_read(
    hostile: Hostile,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As above, with a hard link to a file outside the tree (the walk saw one link)."""
    walk = changeset._walk

    def racing_walk(root: Path, limits: Limits):  # type: ignore[no-untyped-def]
        for path, info in walk(root, limits):
            if path == "docs/README.md":
                os.unlink(root / path)
                os.link(hostile.baits[0], root / path)
                planted.append(root / path)
            yield path, info

    planted: list[Path] = []
    monkeypatch.setattr(changeset, "_walk", racing_walk)
    outcome = hostile.run(EDIT)
    planted[0].unlink()  # the test's own bait, not something the worker wrote
    hostile.check(outcome, "scope_violation")
