"""Client retry policy: 5xx and connection errors are retried, 4xx never."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from leviathan_adapters.control_plane_client import (
    BATCH_EVENTS,
    ControlPlaneClient,
    ControlPlaneRejected,
    ControlPlaneUnavailable,
    _batches,
)
from leviathan_core.events import Event, EventType, new_event


def ev(n: int) -> Event:
    return new_event(
        EventType.SCHEDULER_CYCLE,
        target_id="radix",
        actor="t",
        event_id=f"e{n}",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def ok(request: httpx.Request) -> httpx.Response:
    import json

    events = json.loads(request.content)["events"]
    return httpx.Response(
        201,
        json={
            "results": [
                {
                    "index": i,
                    "event_id": e["event_id"],
                    "status": "created",
                    "sequence": i + 1,
                    "hash": "h",
                }
                for i, e in enumerate(events)
            ],
            "created": len(events),
            "duplicates": 0,
        },
    )


def make(handler: object, calls: list[httpx.Request]) -> ControlPlaneClient:
    def wrapped(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return handler(request)  # type: ignore[operator,no-any-return]

    return ControlPlaneClient(
        "http://cp",
        SecretStr("s3cret"),
        retries=3,
        backoff=0,
        transport=httpx.MockTransport(wrapped),
    )


def test_5xx_is_retried_then_succeeds() -> None:
    calls: list[httpx.Request] = []
    answers = iter([httpx.Response(503), httpx.Response(502)])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or ok(request)

    outcome = make(handler, calls).post_event(ev(1))
    assert outcome.status == "created"
    assert len(calls) == 3
    assert calls[0].headers["authorization"] == "Bearer s3cret"
    assert calls[0].content == calls[2].content  # a retry resends the identical envelope


def test_4xx_is_never_retried() -> None:
    calls: list[httpx.Request] = []

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"detail": "already failed"})

    with pytest.raises(ControlPlaneRejected) as info:
        make(handler, calls).post_event(ev(1))
    assert (info.value.status, info.value.detail, len(calls)) == (409, "already failed", 1)


def test_connection_errors_exhaust_retries() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ControlPlaneUnavailable, match="after 4 tries"):
        make(handler, calls).target_state("radix")
    assert len(calls) == 4


def test_batches_respect_count_and_bytes() -> None:
    events = [ev(n) for n in range(BATCH_EVENTS * 2 + 5)]
    sizes = [len(chunk) for chunk in _batches(events)]
    assert sizes == [BATCH_EVENTS, BATCH_EVENTS, 5]
    big = [
        new_event(
            EventType.SCHEDULER_CYCLE, target_id="radix", actor="t", payload={"blob": "x" * 200_000}
        )
        for _ in range(5)
    ]
    assert [len(chunk) for chunk in _batches(big)] == [2, 2, 1]


@pytest.mark.parametrize("body", [b"<html>proxy error</html>", b'{"target_id": 5}', b"[]"])
def test_an_unreadable_answer_is_an_unknown_fact(body: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    client = ControlPlaneClient("http://cp.invalid", "t", transport=transport, retries=0)
    with pytest.raises(ControlPlaneUnavailable):
        client.target_state("radix")
