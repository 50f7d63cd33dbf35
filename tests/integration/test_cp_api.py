"""The HTTP API under real uvicorn with real httpx, on SQLite and on PostgreSQL.

One server per database for the module; every test works on its own target
id, so tests do not see each other's events.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.support.control_plane import ControlPlane, running_control_plane
from tests.support.postgres import require_postgres, throwaway_database

from leviathan_control_plane.log.database import make_engine

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ControlPlane, str]]:
    directory = tmp_path_factory.mktemp("cp")
    config = directory / "targets"
    config.mkdir()
    (config / "strict.yaml").write_text(
        "target_id: strict\ntarget_repo_url: https://github.com/o/r\ncircuit_breaker_failures: 1\n"
    )
    if request.param == "sqlite":
        with running_control_plane(
            directory, config=config, max_body_bytes=64 * 1024, max_batch_events=50
        ) as cp:
            yield cp, f"sqlite:///{directory / 'control-plane.db'}"
        return
    require_postgres()
    with (
        throwaway_database() as url,
        running_control_plane(
            directory,
            database_url=url,
            config=config,
            max_body_bytes=64 * 1024,
            max_batch_events=50,
        ) as cp,
    ):
        yield cp, url


@pytest.fixture
def cp(server: tuple[ControlPlane, str]) -> Iterator[httpx.Client]:
    plane, _ = server
    with httpx.Client(
        base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def target() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def event(
    target: str, kind: str, attempt: str | None = None, minute: int = 0, **extra: Any
) -> dict[str, Any]:
    attempt = f"{target}.{attempt}" if attempt else None  # attempt ids are global
    body: dict[str, Any] = {
        "event_id": f"{attempt or uuid.uuid4().hex}:{kind}:{minute}",
        "type": kind,
        "target_id": target,
        "attempt_id": attempt,
        "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
        "actor": "test",
    }
    body.update(extra)
    return body


def failed(target: str, attempt: str, minute: int = 2, fence: int | None = None) -> dict[str, Any]:
    return event(
        target,
        "attempt.failed",
        attempt,
        minute,
        fence=fence,
        payload={"reason": "no_changes", "message": "no diff"},
    )


def test_idempotency_201_200_409(cp: httpx.Client, target: str) -> None:
    first = event(target, "attempt.created", "a1", task_id="t1", payload={"attempt_number": 1})
    created = cp.post("/v1/events", json=first)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "created"
    again = cp.post("/v1/events", json=first)
    assert again.status_code == 200
    assert again.json()["event"] == created.json()["event"]
    assert again.json()["sequence"] == created.json()["sequence"] == 1
    clash = cp.post("/v1/events", json={**first, "actor": "somebody-else"})
    assert clash.status_code == 409
    assert "different content" in clash.json()["detail"]
    assert cp.get(f"/v1/targets/{target}/state").json()["last_sequence"] == 1


def test_terminal_attempt_and_stale_fence_are_409(cp: httpx.Client, target: str) -> None:
    cp.post("/v1/events", json=event(target, "attempt.created", "a1", task_id="t1", fence=4))
    stale = cp.post("/v1/events", json=event(target, "attempt.started", "a1", 1, fence=3))
    assert stale.status_code == 409
    assert "stale fence 3" in stale.json()["detail"]
    assert cp.post("/v1/events", json=failed(target, "a1", fence=4)).status_code == 201
    late = cp.post("/v1/events", json=event(target, "attempt.succeeded", "a1", 5, fence=4))
    assert late.status_code == 409
    assert "already failed" in late.json()["detail"]
    # A step before the end, told after it, joins the timeline; the attempt stays failed.
    told_late = cp.post("/v1/events", json=event(target, "attempt.started", "a1", 6, fence=4))
    assert told_late.status_code == 201, told_late.text
    stale_late = cp.post("/v1/events", json=event(target, "attempt.dispatched", "a1", 7, fence=3))
    assert stale_late.status_code == 409
    assert cp.get(f"/v1/attempts/{target}.a1").json()["attempt"]["status"] == "failed"
    # The highest fence seen stays reported after the attempt ended (new fences start above).
    assert cp.get(f"/v1/targets/{target}/state").json()["max_fence"] == 4
    assert cp.post("/v1/events", json=failed(target, "a1", fence=4)).status_code == 200


def test_batch_is_atomic_and_422_names_the_index(cp: httpx.Client, target: str) -> None:
    good = [event(target, "attempt.created", f"a{i}", task_id="t1") for i in range(3)]
    bad = event(target, "pr.created", "a0", 1, payload={"pr_number": 1})
    response = cp.post("/v1/events", json={"events": [*good, bad]})
    assert response.status_code == 422
    body = response.json()
    assert body["index"] == 3
    assert body["detail"].startswith("event 3:")
    assert "pr_url" in body["detail"]
    conflict = cp.post(
        "/v1/events",
        json={"events": [*good, failed(target, "zz"), event(target, "attempt.succeeded", "zz", 3)]},
    )
    assert conflict.status_code == 409
    assert conflict.json()["index"] == 4
    assert cp.get(f"/v1/targets/{target}/state").json()["last_sequence"] == 0
    ok = cp.post("/v1/events", json={"events": good})
    assert ok.status_code == 201
    assert [r["sequence"] for r in ok.json()["results"]] == [1, 2, 3]
    repeat = cp.post("/v1/events", json={"events": good})
    assert (repeat.status_code, repeat.json()["duplicates"]) == (200, 3)


def test_seed_bundle_form_answers_per_event(cp: httpx.Client, target: str) -> None:
    bundle = {
        "target": target,
        "bundle_id": "b-1",
        "events": [
            {
                "event_id": f"{target}-s1",
                "event_type": "attempt.created",
                "timestamp": "2026-01-01T00:00:00Z",
                "actor_id": "seed-scheduler",
                "payload": {"attempt_id": "s-a1", "task_id": "update-readme"},
            },
            {
                "event_id": f"{target}-s2",
                "event_type": "attempt.started",
                "timestamp": "2026-01-01T00:01:00Z",
                "actor_id": "seed-worker",
                "payload": {"attempt_id": "s-a1"},
            },
            {
                "event_id": f"{target}-s3",
                "event_type": "attempt.teleported",
                "timestamp": "2026-01-01T00:02:00Z",
                "actor_id": "seed-worker",
                "payload": {},
            },
        ],
    }
    first = cp.post("/v1/events/ingest", json=bundle)
    assert first.status_code == 207
    results = first.json()["results"]
    assert [r["status"] for r in results] == ["created", "created", "rejected"]
    assert "unknown event_type" in results[2]["reason"]
    bundle["events"] = bundle["events"][:2]
    second = cp.post("/v1/events/ingest", json=bundle)
    assert second.status_code == 200
    assert [r["status"] for r in second.json()["results"]] == ["duplicate", "duplicate"]
    state = cp.get(f"/v1/targets/{target}/state").json()
    assert state["attempts_per_task"] == {"update-readme": 1}
    assert [a["status"] for a in state["running_attempts"]] == ["running"]


def test_state_summary_and_reads(cp: httpx.Client, target: str) -> None:
    pr = {"pr_number": 12, "pr_url": "https://github.com/o/r/pull/12", "branch": "agent/x-a1"}
    cp.post(
        "/v1/events",
        json={
            "events": [
                event(
                    target, "attempt.created", "a1", 0, task_id="t1", payload={"attempt_number": 1}
                ),
                event(target, "attempt.started", "a1", 1),
                event(target, "pr.created", "a1", 2, payload=pr),
                event(target, "attempt.succeeded", "a1", 3, payload={"commit": "abc123"}),
                event(target, "attempt.created", "a2", 4, task_id="t2"),
                failed(target, "a2", 5),
                event(target, "attempt.created", "a3", 6, task_id="t2"),
                event(target, "target.paused", None, 7, payload={"reason": "freeze"}),
            ]
        },
    )
    state = cp.get(f"/v1/targets/{target}/state").json()
    assert state["attempts_per_task"] == {"t1": 1, "t2": 2}
    assert [a["attempt_id"] for a in state["running_attempts"]] == [f"{target}.a3"]
    assert state["consecutive_failures"] == 1
    assert state["open_prs"][0]["pr_number"] == 12
    assert (state["paused"], state["pause_reason"]) == (True, "freeze")
    summary = cp.get("/v1/graph/summary").json()
    assert {"nodes_by_type", "edges_by_type", "recent_events"} <= set(summary)
    assert summary["recent_events"][0]["event_type"] == "target.paused"
    assert set(summary["recent_events"][0]) == {
        "event_id",
        "timestamp",
        "event_type",
        "actor_id",
        "target",
        "attempt_id",
    }
    assert summary["open_prs"][target] == 1
    assert summary["nodes_by_type"]["Attempt"] >= 3
    mine = [t for t in summary["targets"] if t["target_id"] == target]
    assert mine[0]["paused"] is True
    attempts = cp.get("/v1/attempts", params={"target": target, "limit": 2}).json()["attempts"]
    assert [a["attempt_id"] for a in attempts] == [f"{target}.a3", f"{target}.a2"]
    failures = cp.get("/v1/failures", params={"target": target}).json()["attempts"]
    assert [(a["attempt_id"], a["reason"]) for a in failures] == [(f"{target}.a2", "no_changes")]
    timeline = cp.get(f"/v1/attempts/{target}.a1").json()
    assert timeline["attempt"]["commit"] == "abc123"
    assert [e["event"]["type"] for e in timeline["events"]] == [
        "attempt.created",
        "attempt.started",
        "pr.created",
        "attempt.succeeded",
    ]
    assert cp.get("/v1/attempts/nope").status_code == 404


def test_event_filters_and_cursor(cp: httpx.Client, target: str) -> None:
    cp.post(
        "/v1/events",
        json={
            "events": [
                event(target, "scheduler.cycle", None, minute, event_id=f"{target}-c{minute}")
                for minute in range(7)
            ]
        },
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"target": target, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = cp.get("/v1/events", params=params).json()
        seen += [e["event"]["event_id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"{target}-c{m}" for m in range(7)]
    since = cp.get(
        "/v1/events",
        params={"target": target, "since": "2026-01-01T00:05:00Z", "type": "scheduler.cycle"},
    ).json()
    assert [e["sequence"] for e in since["events"]] == [6, 7]
    assert cp.get("/v1/events", params={"type": "bogus"}).status_code == 422


def test_failure_count_and_reset(cp: httpx.Client) -> None:
    target = "strict"
    cp.post("/v1/events", json=event(target, "attempt.created", "s-b1", task_id="t"))
    cp.post("/v1/events", json=failed(target, "s-b1"))
    assert cp.get(f"/v1/targets/{target}/state").json()["consecutive_failures"] == 1
    metrics = cp.get("/metrics").text
    assert 'leviathan_consecutive_failures{target="strict"} 1.0' in metrics
    assert 'leviathan_events_ingested_total{type="attempt.failed"}' in metrics
    assert "leviathan_http_request_duration_seconds_bucket" in metrics
    reset = cp.post(
        f"/v1/targets/{target}/breaker/reset",
        json={"reason": "fixed the token", "actor": "ops", "event_id": "reset-1"},
    )
    assert reset.status_code == 201
    assert reset.json()["event"]["payload"] == {"reason": "fixed the token"}
    assert (
        cp.post(
            f"/v1/targets/{target}/breaker/reset",
            json={"reason": "fixed the token", "actor": "ops", "event_id": "reset-1"},
        ).status_code
        == 200
    )
    assert cp.get(f"/v1/targets/{target}/state").json()["consecutive_failures"] == 0
    assert cp.post(f"/v1/targets/{target}/breaker/reset", json={"actor": "ops"}).status_code == 422


def test_verify_detects_tampering(
    cp: httpx.Client, target: str, server: tuple[ControlPlane, str]
) -> None:
    cp.post(
        "/v1/events",
        json={
            "events": [
                event(target, "scheduler.cycle", None, m, event_id=f"{target}-v{m}")
                for m in range(4)
            ]
        },
    )
    report = cp.get("/v1/events/verify", params={"target_id": target}).json()
    assert (report["ok"], report["events_checked"], report["last_sequence"]) == (True, 4, 4)
    engine = make_engine(server[1])
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE events SET body = replace(body, 'test', 'evil') "
                "WHERE target_id = :t AND sequence = 3"
            ),
            {"t": target},
        )
    engine.dispose()
    report = cp.get("/v1/events/verify", params={"target_id": target}).json()
    assert (report["ok"], report["first_bad_sequence"]) == (False, 3)


def test_auth_on_every_protected_endpoint(server: tuple[ControlPlane, str]) -> None:
    plane, _ = server
    protected = [
        ("GET", "/v1/graph/summary"),
        ("GET", "/v1/targets"),
        ("GET", "/v1/events"),
        ("POST", "/v1/events"),
        ("POST", "/v1/events/ingest"),
        ("GET", "/v1/targets/radix/state"),
        ("GET", "/v1/attempts"),
        ("GET", "/v1/failures"),
        ("GET", "/v1/attempts/a1"),
        ("GET", "/v1/events/verify?target_id=radix"),
        ("POST", "/v1/targets/radix/breaker/reset"),
    ]
    with httpx.Client(base_url=plane.url) as client:
        for method, path in protected:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
                response = client.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path, headers)
                assert response.headers["www-authenticate"].startswith("Bearer")
        for path in ("/healthz", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200


def test_body_and_batch_caps(cp: httpx.Client, target: str) -> None:
    big = event(target, "scheduler.cycle", None, payload={"blob": "x" * 70_000})
    response = cp.post("/v1/events", json=big)
    assert response.status_code == 413
    assert "larger than 65536 bytes" in response.json()["detail"]

    def chunked() -> Iterator[bytes]:
        yield b'{"events": ['
        for _ in range(100):
            yield b'"' + b"x" * 1000 + b'",'
        yield b'"x"]}'

    streamed = cp.post(
        "/v1/events", content=chunked(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    many = [event(target, "scheduler.cycle", None, m) for m in range(51)]
    capped = cp.post("/v1/events", json={"events": many})
    assert capped.status_code == 413
    assert "cap of 50" in capped.json()["detail"]
    assert cp.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("content", "status"),
    [(b"\xc3\x28", 400), (b"{not json", 400), (b"[]", 422), (b'"text"', 422), (b"", 400)],
)
def test_bad_input_is_4xx_and_stores_nothing(cp: httpx.Client, content: bytes, status: int) -> None:
    before = cp.get("/v1/graph/summary").json()["events_total"]
    response = cp.post("/v1/events", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json()["detail"]
    assert cp.get("/v1/graph/summary").json()["events_total"] == before


def test_odd_ids_are_rejected_cleanly(cp: httpx.Client, target: str) -> None:
    for odd in ("../etc", "a b", "é", "x" * 300, ""):
        response = cp.post("/v1/events", json=event(target, "scheduler.cycle", None, event_id=odd))
        assert response.status_code == 422, odd
        assert response.json()["errors"][0]["loc"][:2] == ["body", "event_id"]
    assert cp.get("/v1/targets/Not_Valid/state").status_code == 422
    assert cp.get("/v1/attempts/%20bad").status_code == 422


def test_request_id_is_echoed(cp: httpx.Client) -> None:
    response = cp.get("/healthz", headers={"X-Request-ID": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    generated = cp.get("/healthz", headers={"X-Request-ID": "bad id!"})
    assert generated.headers["x-request-id"] != "bad id!"


def test_unknown_target_state_is_empty(cp: httpx.Client, target: str) -> None:
    before = datetime.now(UTC).date().isoformat()
    state = cp.get(f"/v1/targets/{target}/state").json()
    # Without ?day= the tokens are those of the control plane's UTC today.
    assert state.pop("usage_day") in {before, datetime.now(UTC).date().isoformat()}
    assert state == {
        "target_id": target,
        "attempts_per_task": {},
        "running_attempts": [],
        "consecutive_failures": 0,
        "open_prs": [],
        "paused": False,
        "pause_reason": None,
        "last_sequence": 0,
        "max_fence": 0,
        "tokens_today": 0,
    }


def test_readyz_reports_database(cp: httpx.Client, server: tuple[ControlPlane, str]) -> None:
    expected = "sqlite" if server[1].startswith("sqlite") else "postgresql"
    assert cp.get("/readyz").json() == {"status": "ready", "database": expected}


def test_data_dir_default(tmp_path: Path) -> None:
    with running_control_plane(tmp_path / "data") as plane:
        response = httpx.get(f"{plane.url}/readyz")
    assert response.status_code == 200
    assert (tmp_path / "data" / "control-plane.db").exists()


def test_token_never_reaches_the_logs(
    cp: httpx.Client, server: tuple[ControlPlane, str], caplog: pytest.LogCaptureFixture
) -> None:
    plane, _ = server
    with caplog.at_level(logging.DEBUG):
        cp.get("/v1/graph/summary")
        httpx.get(f"{plane.url}/v1/targets", headers={"Authorization": "Bearer guess-123"})
        cp.post("/v1/events", content=b"{broken")
    assert caplog.records, "the access log wrote nothing"
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert plane.token not in text
    assert "guess-123" not in text
