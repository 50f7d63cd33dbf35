"""SIGKILL the control plane while batches are in flight: nothing acknowledged is lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tests.support.control_plane import ControlPlaneProcess
from tests.support.postgres import require_postgres, throwaway_database

from leviathan_core.events import EventType, new_event

BATCH = 400
T0 = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    require_postgres()
    with throwaway_database() as url:
        yield url


def batch_body(number: int) -> dict[str, list[dict[str, object]]]:
    return {
        "events": [
            new_event(
                EventType.SCHEDULER_CYCLE,
                target_id="crashy",
                actor="poster",
                event_id=f"b{number}-e{i}",
                occurred_at=T0 + timedelta(seconds=i),
                payload={"batch": number, "i": i},
            ).wire()
            for i in range(BATCH)
        ]
    }


def test_kill_mid_batch_loses_no_acknowledged_event(
    tmp_path: Path, database_url: str | None
) -> None:
    server = ControlPlaneProcess(tmp_path / "cp", database_url=database_url)
    plane = server.start()
    headers = {"Authorization": f"Bearer {plane.token}"}
    acknowledged: list[int] = []
    sent: list[int] = []
    three_acked = threading.Event()

    def poster() -> None:
        with httpx.Client(base_url=plane.url, headers=headers, timeout=30) as client:
            for number in range(10_000):
                sent.append(number)
                try:
                    response = client.post("/v1/events", json=batch_body(number))
                except httpx.TransportError:
                    return  # the server died under us
                assert response.status_code == 201, response.text
                acknowledged.append(number)
                if len(acknowledged) >= 3:
                    three_acked.set()

    thread = threading.Thread(target=poster, daemon=True)
    try:
        thread.start()
        assert three_acked.wait(120), "the server never acknowledged three batches"
        server.kill()
        thread.join(60)
        assert not thread.is_alive()
        server.start()
        with httpx.Client(base_url=plane.url, headers=headers, timeout=60) as client:
            report = client.get("/v1/events/verify", params={"target_id": "crashy"}).json()
            assert report["ok"], report
            stored = report["last_sequence"]
            # Whole batches only: the one in flight is all there or not there at all.
            assert stored % BATCH == 0
            assert stored // BATCH >= len(acknowledged)
            assert stored // BATCH <= len(sent)
            for number in acknowledged:
                again = client.post("/v1/events", json=batch_body(number))
                assert again.status_code == 200, f"acknowledged batch {number} was lost"
            assert client.get("/v1/graph/summary").json()["events_total"] == stored
    finally:
        server.stop()
