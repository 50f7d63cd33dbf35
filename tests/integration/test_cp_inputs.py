"""Hostile bodies and odd stored rows against the real app (uvicorn, SQLite and PostgreSQL).

Every input gets a clear 4xx that names the rule, never a 500, and no row the
store holds can make a read fail.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.support.control_plane import ControlPlane, running_control_plane
from tests.support.postgres import require_postgres, throwaway_database

from leviathan_control_plane.log.database import make_engine
from leviathan_control_plane.log.store import EventStore
from leviathan_core.events import EventType, new_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ControlPlane, str]]:
    directory = tmp_path_factory.mktemp("cp-inputs")
    if request.param == "sqlite":
        with running_control_plane(directory) as cp:
            yield cp, f"sqlite:///{directory / 'control-plane.db'}"
        return
    require_postgres()
    with throwaway_database() as url, running_control_plane(directory, database_url=url) as cp:
        yield cp, url


@pytest.fixture
def cp(server: tuple[ControlPlane, str]) -> Iterator[httpx.Client]:
    plane, _ = server
    with httpx.Client(
        base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}, timeout=60
    ) as client:
        yield client


@pytest.fixture
def target() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def cycle(target: str, payload_text: str = "{}", **raw: str) -> bytes:
    """A scheduler.cycle event as text; ``raw`` values are JSON literals (``fence="1e400"``).

    Written by hand so that literals json.dumps cannot produce fit in.
    """
    fields = {
        "event_id": json.dumps(f"{target}-{uuid.uuid4().hex[:8]}"),
        "type": '"scheduler.cycle"',
        "target_id": json.dumps(target),
        "occurred_at": '"2026-01-01T00:00:00Z"',
        "actor": '"test"',
        "payload": payload_text,
        **raw,
    }
    return ("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}").encode()


def bundle(
    target: str, payload_text: str = "{}", timestamp: str = '"2026-01-01T00:00:00Z"'
) -> bytes:
    return (
        f'{{"target": "{target}", "bundle_id": "b", "events": [{{"event_id": "{target}-s1", '
        f'"event_type": "scheduler.cycle", "timestamp": {timestamp}, "actor_id": "seed", '
        f'"payload": {payload_text}}}]}}'
    ).encode()


def post(cp: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return cp.post(path, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("depth", [250, 500, 5_000])
def test_a_payload_nested_past_the_limit_is_a_422_naming_it(
    cp: httpx.Client, target: str, depth: int
) -> None:
    payload = json.dumps(nested(depth)) if depth < 900 else '{"a":' * depth + "1" + "}" * depth
    for path, body in (
        ("/v1/events", cycle(target, payload)),
        ("/v1/events/ingest", bundle(target, payload)),
    ):
        answer = post(cp, path, body)
        assert answer.status_code == 422, (path, answer.text)
        assert "nested deeper than 64" in answer.json()["detail"], answer.text
    assert cp.get(f"/v1/targets/{target}/state").json()["last_sequence"] == 0


def test_a_payload_at_the_limit_is_stored_and_read_back(cp: httpx.Client, target: str) -> None:
    deepest = nested(63)  # with the event object around it: 64 levels, the limit
    answer = post(cp, "/v1/events", cycle(target, json.dumps(deepest)))
    over = post(cp, "/v1/events", cycle(target, json.dumps(nested(64))))
    assert over.status_code == 422, over.text
    assert answer.status_code == 201, answer.text
    page = cp.get("/v1/events", params={"target": target})
    assert page.status_code == 200
    assert page.json()["events"][0]["event"]["payload"] == deepest


@pytest.mark.parametrize(
    ("literal", "words"),
    [
        ("1" * 4_301, "digits"),
        ("-" + "9" * 5_000, "digits"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("1e400", "1e400"),
        ("-1e400", "-1e400"),
    ],
)
def test_numbers_json_cannot_carry_are_a_422(
    cp: httpx.Client, target: str, literal: str, words: str
) -> None:
    for path, body in (
        ("/v1/events", cycle(target, f'{{"n": {literal}}}')),
        ("/v1/events/ingest", bundle(target, f'{{"n": [{literal}]}}')),
        ("/v1/events", cycle(target, "{}", fence=literal)),
    ):
        answer = post(cp, path, body)
        assert answer.status_code == 422, (path, answer.text)
        assert words in answer.json()["detail"], answer.text
    assert cp.get(f"/v1/targets/{target}/state").json()["last_sequence"] == 0


@pytest.mark.parametrize(
    ("stamp", "words"),
    [
        ('"0001-01-01T00:01:00Z"', "between 0001-01-02"),
        ('"9999-12-31T23:59:59Z"', "9999-12-30"),
        ("0", "RFC 3339"),
        ("1700000000", "RFC 3339"),
        ('"1700000000"', "RFC 3339"),
        ("true", "RFC 3339"),
    ],
)
def test_times_are_rfc_3339_strings_within_range_everywhere(
    cp: httpx.Client, target: str, stamp: str, words: str
) -> None:
    reset = f'{{"reason": "r", "actor": "ops", "occurred_at": {stamp}}}'.encode()
    for path, body in (
        (f"/v1/targets/{target}/breaker/reset", reset),
        ("/v1/events/ingest", bundle(target, timestamp=stamp)),
        ("/v1/events", cycle(target, occurred_at=stamp)),
    ):
        answer = post(cp, path, body)
        assert answer.status_code == 422, (path, stamp, answer.text)
        assert words in answer.json()["detail"], (path, answer.text)
    assert cp.get(f"/v1/targets/{target}/state").json()["last_sequence"] == 0
    since = cp.get("/v1/events", params={"since": stamp.strip('"')})
    assert since.status_code == 422, since.text


def test_a_reset_without_a_timezone_is_read_as_utc(cp: httpx.Client, target: str) -> None:
    answer = cp.post(
        f"/v1/targets/{target}/breaker/reset",
        json={"reason": "r", "actor": "ops", "occurred_at": "2026-01-02T03:04:05"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["event"]["occurred_at"] == "2026-01-02T03:04:05Z"


def test_options_and_wrong_methods_list_every_method_of_the_path(cp: httpx.Client) -> None:
    for method in ("OPTIONS", "DELETE", "PUT"):
        answer = cp.request(method, "/v1/events")
        assert answer.status_code == 405, (method, answer.text)
        assert sorted(m.strip() for m in answer.headers["allow"].split(",")) == ["GET", "POST"]
    single = cp.request("OPTIONS", "/v1/events/ingest")
    assert single.headers["allow"] == "POST"


def test_reads_survive_any_stored_row(
    cp: httpx.Client, target: str, server: tuple[ControlPlane, str]
) -> None:
    """Rows an older intake let in (too deep) or a hand edit left (NaN, not JSON) never
    make a read fail."""
    _, url = server
    engine = make_engine(url)
    attempt = f"{target}.a1"
    kinds = [
        ({"x": nested(250)}, "deep"),
        ({"x": float("nan")}, "nan"),
        ({"x": 1}, "edited"),
        ({"x": 2}, "fine"),
    ]
    events = [
        new_event(
            EventType.ATTEMPT_CREATED if i == 0 else EventType.SCHEDULER_CYCLE,
            target_id=target,
            actor="legacy",
            attempt_id=attempt,
            task_id="t",
            payload=payload,
            occurred_at=T0,
            event_id=f"{target}-{name}",
        )
        for i, (payload, name) in enumerate(kinds)
    ]
    try:
        EventStore(engine).append(events, atomic=True)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE events SET body = :b WHERE event_id = :e"),
                {"b": "{not json", "e": f"{target}-edited"},
            )
            # The wire form writes NaN as null; a row written by hand (or by Python's
            # json defaults, as an older store did) may hold the literal.
            conn.execute(
                text("UPDATE events SET body = replace(body, :null, :nan) WHERE event_id = :e"),
                {"null": '"x":null', "nan": '"x":NaN', "e": f"{target}-nan"},
            )
    finally:
        engine.dispose()
    pages = [
        cp.get("/v1/events", params={"target": target}),
        cp.get("/v1/events", params={"attempt": attempt}),
        cp.get("/v1/events"),
        cp.get(f"/v1/attempts/{attempt}"),
    ]
    for page in pages:
        assert page.status_code == 200, page.text
    listed = {e["event"]["event_id"]: e for e in pages[0].json()["events"]}
    assert listed[f"{target}-fine"]["event"]["payload"] == {"x": 2}
    assert listed[f"{target}-fine"]["unreadable"] is None
    reasons = {}
    for name in ("deep", "nan", "edited"):
        shown = listed[f"{target}-{name}"]
        assert shown["event"]["type"] in ("attempt.created", "scheduler.cycle")
        assert (shown["event"]["payload"], shown["event"]["actor"]) == ({}, "legacy")
        assert set(shown["unreadable"]) == {"reason", "sha256", "body"}
        reasons[name] = shown["unreadable"]["reason"]
    assert "nested deeper than 128" in reasons["deep"]
    assert "NaN" in reasons["nan"]
    assert listed[f"{target}-edited"]["unreadable"]["body"] == "{not json"
    timeline = pages[3].json()["events"]
    assert timeline[0]["unreadable"]["reason"] == reasons["deep"]
