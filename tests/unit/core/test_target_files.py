"""Target files: one per file, many per file, a directory; every problem in one go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from leviathan_core.config import ConfigError, load_configs
from leviathan_core.target_files import TargetFiles, fingerprint, load_target_set


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data))
    old = path.stat().st_mtime - 10  # older than the racy window: stamps are trusted
    os.utime(path, (old, old))
    return path


def target(name: str, **extra: object) -> dict[str, object]:
    return {"target_id": name, "target_repo_url": f"https://github.com/o/{name}.git", **extra}


def settle(directory: Path) -> None:
    old = directory.stat().st_mtime - 10
    os.utime(directory, (old, old))


def test_a_file_lists_many_targets_sharing_defaults(tmp_path: Path) -> None:
    fleet = {
        "defaults": {"target_branch": "trunk", "max_open_prs": 2},
        "targets": [target("a"), target("b", max_open_prs=1)],
    }
    configs = load_configs(write(tmp_path / "fleet.yaml", fleet))
    assert sorted(configs) == ["a", "b"]
    assert configs["a"].target_branch == "trunk" and configs["a"].max_open_prs == 2
    assert configs["b"].max_open_prs == 1  # the entry wins over the defaults


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path / "good.yaml", target("good"))
    write(
        tmp_path / "fleet.yaml",
        {
            "defaults": {"schedule_cron": "*/5 * * * *"},
            "targets": [target("x", max_open_prs=-1), target("y"), "oops", target("z", nope=1)],
            "extra": True,
        },
    )
    (tmp_path / "broken.yaml").write_text("target_id: [\n")
    found = load_target_set(tmp_path)
    assert sorted(found.configs) == ["good", "y"]
    text = found.problem()
    assert "fleet.yaml: targets[0] (x): key 'max_open_prs'" in text
    assert "fleet.yaml: targets[2]: expected a mapping of keys, got str" in text
    assert "fleet.yaml: targets[3] (z): key 'nope': unknown key" in text
    assert "fleet.yaml: key 'extra': unknown key beside 'targets'" in text
    assert "broken.yaml: not valid YAML" in text
    with pytest.raises(ConfigError) as raised:
        load_configs(tmp_path)
    assert str(raised.value) == text


def test_a_target_defined_twice_is_refused_in_both_places(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", target("same"))
    write(tmp_path / "b.yaml", {"targets": [target("same"), target("other")]})
    found = load_target_set(tmp_path)
    assert sorted(found.configs) == ["other"]
    assert any("'same' is defined twice" in e and "a.yaml" in e for e in found.errors)


def test_a_broken_file_spoils_only_its_own_targets(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", target("a"))
    broken = write(tmp_path / "b.yaml", target("b"))
    files = TargetFiles(tmp_path)
    assert files.lookup("b").target_id == "b"
    write(broken, target("b", max_open_prs="many"))
    assert files.lookup("a").target_id == "a"
    with pytest.raises(ConfigError, match="no target 'b'") as raised:
        files.lookup("b")
    assert "b.yaml: key 'max_open_prs'" in str(raised.value)
    assert files.current().kept == frozenset({"b"})  # beat keeps b's ticks meanwhile


def test_lookup_follows_edits_additions_and_removals_without_parsing_the_rest(
    tmp_path: Path,
) -> None:
    for name in ("a", "b", "c"):
        write(tmp_path / f"{name}.yaml", target(name))
    settle(tmp_path)
    files = TargetFiles(tmp_path)
    assert files.lookup("a").max_open_prs == 1
    first = files.current()
    assert files.current() is first  # nothing changed: no scan at all
    write(tmp_path / "a.yaml", target("a", max_open_prs=3))
    assert files.lookup("a").max_open_prs == 3
    write(tmp_path / "d.yaml", target("d"))
    assert files.lookup("d").target_id == "d"
    (tmp_path / "b.yaml").unlink()
    with pytest.raises(ConfigError, match="no target 'b'"):
        files.lookup("b")


def test_a_recently_modified_file_is_read_again(tmp_path: Path) -> None:
    """Two writes within the clock's granularity keep the stamp: never trust a fresh one."""
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(target("a", max_open_prs=1)))
    files = TargetFiles(path)
    assert files.lookup("a").max_open_prs == 1
    stat = path.stat()
    path.write_text(yaml.safe_dump(target("a", max_open_prs=4)))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same stamp
    assert files.lookup("a").max_open_prs == 4


def test_fingerprint_follows_the_files_that_are_read(tmp_path: Path) -> None:
    write(tmp_path / "radix.yaml", target("radix"))
    first = fingerprint(tmp_path)
    (tmp_path / "notes.txt").write_text("not a target file")
    assert fingerprint(tmp_path) == first
    write(tmp_path / "beta.yml", target("beta"))
    second = fingerprint(tmp_path)
    assert second != first
    write(tmp_path / "beta.yml", target("beta2"))
    assert fingerprint(tmp_path) not in {first, second}


def test_an_empty_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \*\.yaml configuration files found"):
        load_configs(tmp_path)
