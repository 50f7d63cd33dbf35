"""ControlPlaneClient against a real control plane that goes away and comes back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.support.control_plane import TEST_TOKEN, running_control_plane
from tests.support.servers import free_port

from leviathan_adapters.control_plane_client import (
    ControlPlaneClient,
    ControlPlaneRejected,
    ControlPlaneUnavailable,
)
from leviathan_core.events import Event, EventType, new_event

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def ev(n: int) -> Event:
    return new_event(
        EventType.SCHEDULER_CYCLE,
        target_id="radix",
        actor="client-test",
        event_id=f"e{n}",
        occurred_at=T0 + timedelta(seconds=n),
    )


def client(port: int, spool: Path | None) -> ControlPlaneClient:
    return ControlPlaneClient(
        f"http://127.0.0.1:{port}", TEST_TOKEN, spool_path=spool, timeout=5, retries=2, backoff=0.01
    )


def test_spool_while_down_then_flush_in_order(tmp_path: Path) -> None:
    port, spool, data = free_port(), tmp_path / "spool" / "events.jsonl", tmp_path / "cp"
    with client(port, spool) as cp:
        with running_control_plane(data, port=port):
            assert cp.post_event(ev(1)).status == "created"
            assert cp.post_event(ev(1)).status == "duplicate"
        # Down: both calls are spooled, in order, fsync'd as JSON lines.
        assert cp.post_event(ev(2)).status == "spooled"
        assert [o.status for o in cp.post_events([ev(3), ev(4)])] == ["spooled", "spooled"]
        lines = spool.read_text().splitlines()
        assert [json.loads(line)["event_id"] for line in lines] == ["e2", "e3", "e4"]
        with pytest.raises(ControlPlaneUnavailable):
            cp.target_state("radix")
        with running_control_plane(data, port=port):
            # The next post flushes the spool first, so the log keeps the order.
            assert cp.post_event(ev(5)).status == "created"
            assert spool.read_text() == ""
            page = cp._http.get("/v1/events", params={"target": "radix"}).json()
            assert [e["event"]["event_id"] for e in page["events"]] == [
                "e1",
                "e2",
                "e3",
                "e4",
                "e5",
            ]
            assert cp.flush_spool() == 0
            assert cp.target_state("radix").last_sequence == 5


def test_without_spool_unavailable_is_raised(tmp_path: Path) -> None:
    with (
        client(free_port(), None) as cp,
        pytest.raises(ControlPlaneUnavailable, match="failed after 3 tries"),
    ):
        cp.post_event(ev(1))


def test_corrupt_and_refused_lines_are_quarantined(tmp_path: Path) -> None:
    port, spool = free_port(), tmp_path / "events.jsonl"
    with running_control_plane(tmp_path / "cp", port=port), client(port, spool) as cp:
        cp.post_event(ev(1))
        clash = ev(1).model_copy(update={"actor": "someone-else"})  # same id, new content
        spool.write_text(
            "\n".join(
                [
                    json.dumps(ev(2).wire()),
                    "{not json",
                    json.dumps({"event_id": "x"}),
                    json.dumps(clash.wire()),
                    json.dumps(ev(3).wire()),
                ]
            )
            + "\n"
        )
        assert cp.flush_spool() == 2
        assert spool.read_text() == ""
        quarantined = (tmp_path / "events.jsonl.quarantine").read_text().splitlines()
        assert quarantined[:2] == ["{not json", json.dumps({"event_id": "x"})]
        assert json.loads(quarantined[2])["actor"] == "someone-else"
        state = cp.target_state("radix")
        assert state.last_sequence == 3


def test_reads_and_breaker_reset(tmp_path: Path) -> None:
    port = free_port()
    with running_control_plane(tmp_path / "cp", port=port), client(port, None) as cp:
        attempt = "radix-a1"
        cp.post_events(
            [
                new_event(
                    EventType.ATTEMPT_CREATED,
                    target_id="radix",
                    actor="s",
                    attempt_id=attempt,
                    task_id="t1",
                    payload={"attempt_number": 1},
                ),
                new_event(
                    EventType.ATTEMPT_FAILED,
                    target_id="radix",
                    actor="w",
                    attempt_id=attempt,
                    payload={"reason": "no_changes", "message": "nothing"},
                ),
            ]
        )
        assert cp.target_state("radix").consecutive_failures == 1
        assert [a.status for a in cp.list_attempts("radix")] == ["failed"]
        assert cp.get_attempt(attempt)["attempt"]["reason"] == "no_changes"
        cp.reset_breaker("radix", "token rotated", "ops")
        assert cp.target_state("radix").consecutive_failures == 0
        with pytest.raises(ControlPlaneRejected) as info:
            cp.post_event(
                new_event(
                    EventType.ATTEMPT_SUCCEEDED, target_id="radix", actor="w", attempt_id=attempt
                )
            )
        assert info.value.status == 409
        assert "already failed" in str(info.value.detail)
        with pytest.raises(ControlPlaneRejected) as missing:
            cp.get_attempt("nope")
        assert missing.value.status == 404


def test_wrong_token_keeps_records_spooled_until_the_token_is_right(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """401/403 are the sender's fault: nothing is quarantined, all is sent once the token works."""
    port, spool = free_port(), tmp_path / "events.jsonl"
    quarantine = tmp_path / "events.jsonl.quarantine"
    with running_control_plane(tmp_path / "cp", port=port):
        with client(free_port(), spool) as away:  # earlier outage: e1 and e2 wait in the spool
            assert [o.status for o in away.post_events([ev(1), ev(2)])] == ["spooled"] * 2
        wrong = ControlPlaneClient(
            f"http://127.0.0.1:{port}", "wrong", spool_path=spool, retries=2, backoff=0.01
        )
        with wrong, caplog.at_level("WARNING"):
            assert wrong.post_event(ev(3)).status == "spooled"
            with pytest.raises(ControlPlaneRejected) as info:
                wrong.flush_spool()
        assert info.value.status == 401
        assert "LEVIATHAN_CONTROL_PLANE_TOKEN" in caplog.text
        assert not quarantine.exists()
        assert [json.loads(x)["event_id"] for x in spool.read_text().splitlines()] == [
            "e1",
            "e2",
            "e3",
        ]
        with client(port, spool) as right:
            assert right.post_event(ev(4)).status == "created"
            assert right.target_state("radix").last_sequence == 4
        assert spool.read_text() == ""
        assert not quarantine.exists()


def test_only_invalid_events_are_quarantined(tmp_path: Path) -> None:
    """A 422 (the event itself is wrong) goes to quarantine; the others still go."""
    port, spool = free_port(), tmp_path / "events.jsonl"
    bad = new_event(
        EventType.ATTEMPT_FAILED,
        target_id="radix",
        actor="w",
        attempt_id="a-bad",
        payload={"reason": "Not A Code", "message": "x"},
    )
    spool.write_text("".join(json.dumps(e.wire()) + "\n" for e in (ev(1), bad, ev(2))))
    with running_control_plane(tmp_path / "cp", port=port), client(port, spool) as cp:
        assert cp.flush_spool() == 2
    quarantined = (tmp_path / "events.jsonl.quarantine").read_text().splitlines()
    assert [json.loads(x)["event_id"] for x in quarantined] == [bad.event_id]


def test_late_dispatch_lands_in_the_history_of_a_failed_attempt(tmp_path: Path) -> None:
    """The dispatcher's spooled attempt.dispatched arrives after attempt.failed."""
    port, spool, attempt = free_port(), tmp_path / "dispatcher.jsonl", "radix-late"

    def attempt_event(kind: EventType, actor: str, **payload: Any) -> Event:
        return new_event(
            kind,
            target_id="radix",
            actor=actor,
            attempt_id=attempt,
            task_id="t1",
            fence=7,
            payload=payload,
        )

    with client(port, spool) as dispatcher:
        with running_control_plane(tmp_path / "cp", port=port), client(port, None) as cp:
            cp.post_event(attempt_event(EventType.ATTEMPT_CREATED, "scheduler", attempt_number=1))
        # The control plane is away: the dispatcher spools its record.
        dispatched = attempt_event(EventType.ATTEMPT_DISPATCHED, "dispatcher", job="j")
        assert dispatcher.post_event(dispatched).status == "spooled"
        with running_control_plane(tmp_path / "cp", port=port), client(port, None) as cp:
            cp.post_event(
                attempt_event(
                    EventType.ATTEMPT_FAILED, "reconciler", reason="timeout", message="too long"
                )
            )
            assert dispatcher.flush_spool() == 1
            started = attempt_event(EventType.ATTEMPT_STARTED, "worker")
            assert cp.post_event(started).status == "created"
            timeline = cp.get_attempt(attempt)
            with pytest.raises(ControlPlaneRejected) as info:
                cp.post_event(attempt_event(EventType.ATTEMPT_SUCCEEDED, "worker"))
            state = cp.target_state("radix")
    assert [e["event"]["type"] for e in timeline["events"]] == [
        "attempt.created",
        "attempt.failed",
        "attempt.dispatched",
        "attempt.started",
    ]
    assert (timeline["attempt"]["status"], timeline["attempt"]["reason"]) == ("failed", "timeout")
    assert info.value.status == 409
    assert state.consecutive_failures == 1
    assert state.running_attempts == []
    assert not (tmp_path / "dispatcher.jsonl.quarantine").exists()
