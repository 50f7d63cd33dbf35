"""A scheduler with a wrong control-plane token loses no record (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.scheduler_stack import scheduler_stack

from leviathan_scheduler.cycle import run_cycle


def test_a_refused_token_keeps_the_cycle_record_until_the_token_is_right(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with scheduler_stack(tmp_path, redis_url) as stack:
        wrong = stack.runtime(control_plane_token="not-the-token")
        config = wrong.config_for("radix")
        with caplog.at_level("WARNING"):
            skipped = run_cycle(config, wrong.deps_for(config))
        assert skipped.reason == "fact_unavailable:control_plane"
        assert "LEVIATHAN_CONTROL_PLANE_TOKEN" in caplog.text
        spool = tmp_path / "data" / "spool" / "scheduler-radix.jsonl"
        [kept] = [json.loads(line) for line in spool.read_text().splitlines()]
        assert kept["type"] == "scheduler.cycle"
        assert not spool.with_name(spool.name + ".quarantine").exists()
        assert stack.events("scheduler.cycle") == []

        right = stack.runtime()
        assert run_cycle(config, right.deps_for(config)).status == "dispatched"
        recorded = [e["event_id"] for e in stack.events("scheduler.cycle")]
        assert recorded[0] == kept["event_id"] and len(recorded) == 2
        assert spool.read_text() == ""
