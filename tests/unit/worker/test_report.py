"""Events and console of one attempt, against a control plane played by httpx.MockTransport."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_core.events import EventType, FailureReason
from leviathan_core.state import AttemptSummary
from leviathan_worker.failure import AttemptFailure
from leviathan_worker.report import Console, Reporter, stale_reason

ATTEMPT = "attempt-a-12345678"


class FakeControlPlane:
    """Answers POST /v1/events and GET /v1/attempts/{id} from a script."""

    def __init__(self, attempt: dict[str, Any] | None = None, refuse: set[str] | None = None):
        self.attempt = attempt or {
            "attempt_id": ATTEMPT,
            "target_id": "demo",
            "status": "running",
            "fence": 3,
        }
        self.refuse = refuse or set()
        self.down = False
        self.posted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("down", request=request)
        if request.method == "GET":
            return httpx.Response(200, json={"attempt": self.attempt, "events": []})
        events = json.loads(request.content)["events"]
        if any(e["type"] in self.refuse for e in events):
            return httpx.Response(409, json={"detail": "already stored with different content"})
        self.posted += [e["type"] for e in events]
        results = [{"event_id": e["event_id"], "status": "created"} for e in events]
        return httpx.Response(201, json={"results": results})


def reporter(cp: FakeControlPlane, tmp_path: Path) -> tuple[Reporter, io.StringIO]:
    client = ControlPlaneClient(
        "http://cp.test", "tok", spool_path=tmp_path / "spool.jsonl", retries=0,
        transport=httpx.MockTransport(cp),
    )  # fmt: skip
    out = io.StringIO()
    rep = Reporter(
        client, Console(out), target_id="demo", task_id="a", attempt_id=ATTEMPT, fence=3,
        clock=iter(range(0, 1000, 10)).__next__,
    )  # fmt: skip
    return rep, out


def summary(**kw: Any) -> AttemptSummary:
    base: dict[str, Any] = {
        "attempt_id": ATTEMPT,
        "target_id": "demo",
        "status": "running",
        "fence": 3,
    }
    return AttemptSummary.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        ({"status": "created"}, None),
        ({"fence": None}, None),
        (
            {"status": "failed", "reason": "timeout"},
            f"attempt {ATTEMPT} is already failed (timeout)",
        ),
        ({"status": "succeeded"}, f"attempt {ATTEMPT} is already succeeded"),
        ({"fence": 4}, "fence 3 is stale: the attempt's current fence is 4"),
    ],
)
def test_stale_reason(changes: dict[str, Any], expected: str | None) -> None:
    assert stale_reason(summary(**changes), 3) == expected


def test_progress_posts_with_deterministic_id_and_fence(tmp_path: Path) -> None:
    cp = FakeControlPlane()
    rep, out = reporter(cp, tmp_path)
    event = rep.event(EventType.ATTEMPT_STARTED, {"engine": "backlog-propose"})
    assert (event.event_id, event.fence, event.actor) == (
        f"{ATTEMPT}:attempt.started",
        3,
        f"worker-{ATTEMPT}",
    )
    rep.progress(event)
    assert cp.posted == ["attempt.started"]
    assert out.getvalue() == "✓ Posted attempt.started event to control plane\n"


def test_refused_progress_continues_only_while_the_attempt_is_current(tmp_path: Path) -> None:
    cp = FakeControlPlane(refuse={"attempt.started"})
    rep, out = reporter(cp, tmp_path)
    rep.progress(rep.event(EventType.ATTEMPT_STARTED, {}))
    assert "✓ attempt.started already recorded by an earlier run" in out.getvalue()

    cp.attempt["status"] = "failed"
    with pytest.raises(AttemptFailure) as caught:
        rep.progress(rep.event(EventType.ATTEMPT_STARTED, {}))
    assert caught.value.reason is FailureReason.FENCE_STALE


def test_fence_check_fails_closed_when_the_control_plane_stays_away(tmp_path: Path) -> None:
    cp = FakeControlPlane()
    rep, out = reporter(cp, tmp_path)
    now = [0.0]
    pauses: list[float] = []
    rep.clock, rep.patience = lambda: now[0], 60.0

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    rep.sleep = sleep
    cp.down = True
    with pytest.raises(AttemptFailure, match="stayed unreachable for 60s") as info:
        rep.ensure_current()
    assert info.value.reason is FailureReason.CONTROL_PLANE_UNREACHABLE
    assert pauses[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert max(pauses) == 8.0 and sum(pauses) == 60.0
    assert out.getvalue().count("retrying the fence check for up to 60s") == 1


def test_spooled_events_are_flushed_when_the_control_plane_returns(tmp_path: Path) -> None:
    cp = FakeControlPlane()
    rep, out = reporter(cp, tmp_path)
    cp.down = True
    rep.progress(rep.event(EventType.PR_CREATED, {"pr_number": 1, "pr_url": "u", "branch": "b"}))
    rep.failed(AttemptFailure(FailureReason.PR_MISMATCH, "differs"))
    assert rep.spooled == 2
    assert "pr.created event spooled" in out.getvalue()

    assert rep.flush(seconds=0) == 2  # still down: reported, kept
    assert "2 event(s) still spooled" in out.getvalue()

    cp.down = False
    assert rep.flush(seconds=0) == 0
    assert cp.posted == ["pr.created", "attempt.failed"]


def test_console_never_prints_a_secret() -> None:
    out = io.StringIO()
    Console(out, secrets=["s3cret"]).say("token s3cret in https://user:pw@host/x")
    assert out.getvalue() == "token *** in https://***@host/x\n"


def test_failure_line_and_payload() -> None:
    failure = AttemptFailure(FailureReason.SCOPE_VIOLATION, "1 violation(s)", paths=["docsx/a"])
    assert failure.line() == "✗ Attempt failed: scope_violation: 1 violation(s)"
    assert failure.payload() == {
        "reason": "scope_violation", "message": "1 violation(s)", "paths": ["docsx/a"],
    }  # fmt: skip
