"""Beat schedule, durations, next-tick times and the status rendering (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from leviathan_adapters import slots
from leviathan_core.config import AutonomyConfig, ConfigError
from leviathan_core.constants import QUEUE_SCHEDULER, TASK_RECONCILE, TASK_SELECT_CYCLE
from leviathan_core.events import EventType, new_event
from leviathan_core.state import AttemptSummary
from leviathan_scheduler.cron import CronSchedule, tick_offset
from leviathan_scheduler.schedule import (
    beat_schedule,
    is_target_entry,
    schedule_changes,
    schedule_override,
)
from leviathan_scheduler.status import (
    attempt_lines,
    next_tick,
    parse_duration,
    render,
    target_status,
)
from tests.support.scheduler_fakes import make_world


def cfg(target: str, **extra: object) -> AutonomyConfig:
    return AutonomyConfig.model_validate(
        {"target_id": target, "target_repo_url": "https://github.com/o/r.git", **extra}
    )


def test_one_cycle_and_one_reconcile_entry_per_target() -> None:
    configs = {
        "radix": cfg("radix", schedule_cron="*/5 * * * *"),
        "beta": cfg("beta", schedule_cron="0 9 * * 1-5", reconcile_interval_seconds=30),
    }
    entries = beat_schedule(configs, None)
    assert sorted(entries) == [
        "reconcile:beta",
        "reconcile:radix",
        "select-cycle:beta",
        "select-cycle:radix",
    ]
    radix = entries["select-cycle:radix"]
    assert radix["task"] == TASK_SELECT_CYCLE
    assert radix["args"] == ("radix",)
    assert radix["options"]["queue"] == QUEUE_SCHEDULER
    assert radix["schedule"] == CronSchedule(
        "*/5 * * * *", tick_offset("radix", "*/5 * * * *", 300)
    )
    assert entries["select-cycle:beta"]["schedule"] == CronSchedule(
        "0 9 * * 1-5", tick_offset("beta", "0 9 * * 1-5", 300)
    )
    unspread = beat_schedule({"radix": cfg("radix", schedule_spread_seconds=0)}, None)
    assert unspread["select-cycle:radix"]["schedule"] == CronSchedule("*/5 * * * *")
    assert entries["reconcile:beta"]["task"] == TASK_RECONCILE
    assert entries["reconcile:beta"]["schedule"] == 30.0


def test_the_override_replaces_every_cron() -> None:
    entries = beat_schedule({"radix": cfg("radix")}, 2.0)
    assert entries["select-cycle:radix"]["schedule"] == 2.0
    assert entries["select-cycle:radix"]["options"]["expires"] == 2.0
    assert entries["reconcile:radix"]["schedule"] == 60.0


def test_schedule_changes_name_each_added_removed_and_changed_entry() -> None:
    flat = {"schedule_spread_seconds": 0}
    old = beat_schedule({"radix": cfg("radix", **flat), "gone": cfg("gone", **flat)}, None)
    new = beat_schedule(
        {"radix": cfg("radix", schedule_cron="0 9 * * *", **flat), "beta": cfg("beta", **flat)},
        None,
    )
    lines = schedule_changes(old, new)
    assert lines[:4] == [
        "added reconcile:beta (60.0)",
        "added select-cycle:beta (<cron */5 * * * *>)",
        "removed reconcile:gone",
        "removed select-cycle:gone",
    ]
    assert lines[4:] == [  # reconcile:radix is unchanged
        "changed select-cycle:radix: schedule <cron */5 * * * *> -> <cron 0 9 * * *>"
    ]
    assert schedule_changes(new, new) == []
    assert all(is_target_entry(name) for name in new)
    assert not is_target_entry("celery.backend_cleanup")


@pytest.mark.parametrize(
    ("raw", "expected"), [("", None), ("  ", None), ("1", 1.0), ("0.5", 0.5), ("30", 30.0)]
)
def test_schedule_override(raw: str, expected: float | None) -> None:
    assert schedule_override({"LEVIATHAN_SCHEDULE_SECONDS": raw}) == expected
    assert schedule_override({}) is None


@pytest.mark.parametrize("raw", ["0", "-3", "soon", "nan"])
def test_a_bad_override_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="LEVIATHAN_SCHEDULE_SECONDS"):
        schedule_override({"LEVIATHAN_SCHEDULE_SECONDS": raw})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45", 45)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "2 hours", "h", "1x", "-5m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--for"):
        parse_duration(text)


def test_next_tick() -> None:
    now = datetime(2026, 1, 1, 12, 3, 10, tzinfo=UTC)
    unspread = cfg("r", schedule_spread_seconds=0)
    assert next_tick(unspread, now, None) == "2026-01-01T12:05:00+00:00 (*/5 * * * *, +0s)"
    offset = tick_offset("r", "*/5 * * * *", 300)
    shifted = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp() + offset
    expected = datetime.fromtimestamp(shifted + (300 if shifted <= now.timestamp() else 0), UTC)
    assert next_tick(cfg("r"), now, None).startswith(expected.isoformat())
    assert next_tick(cfg("r"), now, 2.0).startswith("every 2s")


def test_status_reads_every_system_and_shows_what_is_missing() -> None:
    world = make_world("tasks: []\n")
    config = cfg("radix")
    slots.pause(world.redis, "radix", reason="freeze", by="alice")
    slots.reserve(
        world.redis, "radix", "attempt-a-00000000", max_running=1, max_prs=1, lease_seconds=60
    )
    world.forge.down = True
    status = target_status(config, world.deps, None)
    assert status["paused"] == {"reason": "freeze", "by": "alice", "until": None}
    assert status["slots"]["running"] == ["attempt-a-00000000"]
    assert status["slots"]["fence"] == 1
    assert status["breaker"] == {"open": False, "consecutive_failures": 0, "threshold": 2}
    assert "unavailable" in status["open_prs"]
    text = render(status)
    assert text[0] == "Target: radix"
    assert "  Paused: yes (freeze; by alice)" in text
    assert "  Breaker: closed (0/2 consecutive failures)" in text
    assert "  Slots: running 1/1, PRs 1/1, fence 1" in text
    assert "  Open PRs: unavailable (secondary rate limit)" in text
    assert text[-1].startswith("  Next tick: 2026-01-01T12:0")


def test_status_says_when_the_half_open_breaker_probes() -> None:
    world = make_world("tasks: []\n")
    for n in range(2):
        attempt = f"attempt-a-0000000{n}"
        for kind in (EventType.ATTEMPT_CREATED, EventType.ATTEMPT_FAILED):
            world.control_plane.post_event(
                new_event(
                    kind,
                    target_id="radix",
                    actor="test",
                    attempt_id=attempt,
                    task_id="a",
                    payload=(
                        {"reason": "engine_failed", "message": "boom"}
                        if kind is EventType.ATTEMPT_FAILED
                        else {}
                    ),
                    occurred_at=world.clock.now,
                )
            )
    world.clock.advance(100)
    status = target_status(cfg("radix", breaker_probe_after_seconds=300), world.deps, None)
    assert status["breaker"]["probe_in_seconds"] == 200
    assert "  Breaker: open (2/2 consecutive failures; probe in 200s)" in render(status)
    without = target_status(cfg("radix"), world.deps, None)
    assert "probe_in_seconds" not in without["breaker"]


def test_attempt_lines_name_status_reason_and_pr() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    lines = attempt_lines(
        [
            AttemptSummary(
                attempt_id="attempt-a-1234abcd",
                target_id="radix",
                task_id="a",
                attempt_number=2,
                status="failed",
                reason="scope_violation",
                message="'src/x.py' is outside docs/",
                updated_at=at,
            ),
            AttemptSummary(
                attempt_id="attempt-a-9999abcd",
                target_id="radix",
                task_id="a",
                attempt_number=1,
                status="succeeded",
                pr_number=3,
                pr_url="https://github.com/o/r/pull/3",
                created_at=at,
            ),
            AttemptSummary(attempt_id="x", target_id="radix", status="created"),
        ]
    )
    assert lines == [
        "2026-01-01T00:00:00+00:00  attempt-a-1234abcd  a #2  failed scope_violation: "
        "'src/x.py' is outside docs/",
        "2026-01-01T00:00:00+00:00  attempt-a-9999abcd  a #1  succeeded "
        "PR #3 https://github.com/o/r/pull/3",
        "-  x  -  created",
    ]


def test_the_override_is_read_where_the_settings_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`leviathan status` from a second terminal reads `.leviathan-run/env`, as Settings does."""
    monkeypatch.delenv("LEVIATHAN_SCHEDULE_SECONDS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert schedule_override() is None
    (tmp_path / ".leviathan-run").mkdir()
    (tmp_path / ".leviathan-run" / "env").write_text("LEVIATHAN_SCHEDULE_SECONDS=20\n")
    assert schedule_override() == 20.0
    monkeypatch.setenv("LEVIATHAN_SCHEDULE_SECONDS", "5")
    assert schedule_override() == 5.0  # the environment wins, as for every setting
