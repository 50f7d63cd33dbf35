"""Beat as it runs: a real ``celery beat`` process follows edits to the target files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.scheduler_stack import BIN, Proc, celery_processes, wait_for


@dataclass
class Beat:
    config_dir: Path
    log: Path

    def write(self, target: str, **extra: Any) -> None:
        data = {"target_id": target, "target_repo_url": f"https://github.com/o/{target}.git"}
        (self.config_dir / f"{target}.yaml").write_text(yaml.safe_dump(data | extra))

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def sent(self, entry: str) -> int:
        return self.text().count(f"Sending due task {entry} ")

    def wait_sent(self, entry: str, more_than: int = 0) -> int:
        return int(wait_for(lambda: max(self.sent(entry) - more_than, 0), f"beat to send {entry}"))


@pytest.fixture
def beat(redis_url: str, tmp_path: Path) -> Iterator[Beat]:
    config_dir = tmp_path / "autonomy"
    config_dir.mkdir()
    running = Beat(config_dir, tmp_path / "beat.log")
    running.write("radix", reconcile_interval_seconds=600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIATHAN_")} | {
        "LEVIATHAN_CONFIG": str(config_dir),
        "LEVIATHAN_REDIS_URL": redis_url,
        "LEVIATHAN_SCHEDULE_SECONDS": "0.5",
        "LEVIATHAN_BEAT_RELOAD_SECONDS": "0.2",
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    argv = [
        str(BIN / "celery"),
        "-A",
        "leviathan_scheduler.celery_app",
        "beat",
        "--loglevel=INFO",
        "-s",
        str(tmp_path / "beat-schedule"),
        "--pidfile=",
    ]
    with celery_processes([Proc(argv, running.log, "beat: Starting...")], env, tmp_path) as procs:
        yield running
        assert procs[0].poll() is None, running.text()


def test_a_new_target_starts_ticking_without_a_restart(beat: Beat) -> None:
    beat.wait_sent("select-cycle:radix")
    assert beat.sent("select-cycle:beta") == 0
    beat.write("beta")
    beat.wait_sent("select-cycle:beta")
    assert "beat schedule: added select-cycle:beta" in beat.text()
    assert "beat schedule: added reconcile:beta" in beat.text()


def test_a_changed_interval_applies_and_a_removed_target_stops(beat: Beat) -> None:
    beat.write("beta")
    beat.wait_sent("select-cycle:beta")
    assert beat.sent("reconcile:radix") == 0  # every 600 s, the first one not yet due
    beat.write("radix", reconcile_interval_seconds=1)
    beat.wait_sent("reconcile:radix")
    assert "changed reconcile:radix: schedule 600.0 -> 1.0" in beat.text()

    (beat.config_dir / "beta.yaml").unlink()
    wait_for(lambda: "beat schedule: removed select-cycle:beta" in beat.text(), "beta removed")
    stopped_at = beat.sent("select-cycle:beta")
    radix = beat.sent("select-cycle:radix")
    beat.wait_sent("select-cycle:radix", more_than=radix + 3)  # about two seconds on
    assert beat.sent("select-cycle:beta") == stopped_at


def test_a_broken_file_keeps_the_schedule_in_force(beat: Beat) -> None:
    beat.wait_sent("select-cycle:radix")
    beat.write("radix", max_open_prs=-1)
    wait_for(lambda: "beat keeps its current schedule" in beat.text(), "the reload error")
    line = next(x for x in beat.text().splitlines() if "beat keeps its current schedule" in x)
    assert "radix.yaml" in line and "max_open_prs" in line
    before = beat.sent("select-cycle:radix")
    beat.wait_sent("select-cycle:radix", more_than=before + 1)
    assert beat.text().count("beat keeps its current schedule") == 1  # said once, not per look
    beat.write("radix", max_open_prs=2)  # fixed: same entries, nothing to change
    beat.write("beta")
    beat.wait_sent("select-cycle:beta")
