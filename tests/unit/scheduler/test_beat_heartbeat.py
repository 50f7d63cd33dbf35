"""Beat's heartbeat: beat touches it on every loop, the liveness probe judges its age."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leviathan_adapters.process_settings import process_settings
from leviathan_core.settings import Settings
from leviathan_scheduler import heartbeat


def test_a_touched_file_is_fresh_until_it_is_older_than_the_limit(tmp_path: Path) -> None:
    file = heartbeat.heartbeat_path(tmp_path / "data")
    assert not heartbeat.is_fresh(file, 180)  # missing
    assert heartbeat.touch(file)  # creates the data directory too
    touched = file.stat().st_mtime
    assert heartbeat.is_fresh(file, 180, now=touched + 180)
    assert not heartbeat.is_fresh(file, 180, now=touched + 181)


def test_touch_reports_an_unwritable_place_instead_of_raising(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert heartbeat.touch(tmp_path / "file" / heartbeat.FILE_NAME) is False


def test_the_probe_exits_0_when_fresh_1_when_stale_2_on_misuse(tmp_path: Path) -> None:
    file = tmp_path / heartbeat.FILE_NAME
    assert heartbeat.main([str(file), "180"]) == 1
    heartbeat.touch(file)
    assert heartbeat.main([str(file), "180"]) == 0
    old = file.stat().st_mtime - 600
    os.utime(file, (old, old))
    assert heartbeat.main([str(file), "180"]) == 1
    assert heartbeat.main([str(file)]) == 2
    assert heartbeat.main([str(file), "soon"]) == 2


def test_the_probe_runs_as_a_module_the_way_the_manifest_calls_it(tmp_path: Path) -> None:
    file = tmp_path / heartbeat.FILE_NAME
    heartbeat.touch(file)
    probe = [sys.executable, "-m", "leviathan_scheduler.heartbeat", str(file), "180"]
    assert subprocess.run(probe, check=False).returncode == 0
    file.unlink()
    assert subprocess.run(probe, check=False, capture_output=True).returncode == 1


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    target = tmp_path / "radix.yaml"
    target.write_text(
        "target_id: radix\ntarget_repo_url: https://github.com/o/radix.git\n"
        "schedule_cron: '0 0 1 1 *'\nreconcile_interval_seconds: 86400\n"  # nothing due soon
    )
    monkeypatch.setenv("LEVIATHAN_CONFIG", str(target))
    monkeypatch.setenv("LEVIATHAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEVIATHAN_BEAT_RELOAD_SECONDS", "0")  # no reload cap on the delay
    process_settings.cache_clear()
    yield tmp_path / "data"
    process_settings.cache_clear()


def test_every_beat_loop_touches_the_heartbeat_and_wakes_in_time_for_the_next(
    data_dir: Path, tmp_path: Path
) -> None:
    from leviathan_scheduler.beat import TargetBeatScheduler
    from leviathan_scheduler.celery_app import create_app

    app = create_app(Settings(redis_url="memory://"))  # the rest from the environment
    app.conf.result_backend = "cache+memory://"
    scheduler = TargetBeatScheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    try:
        file = heartbeat.heartbeat_path(data_dir)
        assert not file.exists()
        delay = scheduler.tick()
        assert heartbeat.is_fresh(file, 5)
        assert 0 <= delay <= heartbeat.EVERY_SECONDS
    finally:
        scheduler.close()
