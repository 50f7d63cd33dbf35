"""The breaker is decided in one place, with the target's current threshold.

A real control plane (uvicorn, SQLite) started with the target files counts
the failures; the scheduler's facts and ``decide()`` read them through the
real client. Raising ``circuit_breaker_failures`` in the file must close the
breaker at the next cycle, without restarting the control plane.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.control_plane import ControlPlane, running_control_plane

from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_core.backlog import parse_backlog
from leviathan_core.config import AutonomyConfig, load_configs
from leviathan_core.events import EventType, new_event
from leviathan_core.guardrails import decide
from leviathan_scheduler.facts import breaker_is_open, combine

TARGET = "target_id: radix\ntarget_repo_url: https://github.com/acme/radix\n"
BACKLOG = "tasks:\n  - id: t1\n    title: T\n    ready: true\n    allowed_paths: [docs/a.md]\n"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    directory = tmp_path / "autonomy"
    directory.mkdir()
    (directory / "radix.yaml").write_text(TARGET + "circuit_breaker_failures: 1\n")
    return directory


@pytest.fixture
def plane(tmp_path: Path, files: Path) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path / "cp", config=files) as running:
        yield running


def fail_once(client: ControlPlaneClient, attempt: str) -> None:
    client.post_events(
        [
            new_event(EventType.ATTEMPT_CREATED, target_id="radix", actor="t", attempt_id=attempt),
            new_event(
                EventType.ATTEMPT_FAILED,
                target_id="radix",
                actor="t",
                attempt_id=attempt,
                payload={"reason": "no_changes", "message": "nothing changed"},
            ),
        ]
    )


def reason(config: AutonomyConfig, client: ControlPlaneClient) -> str | None:
    """The cycle's reason from the live count; ``leviathan status`` must agree with it."""
    state = client.target_state("radix")
    facts = combine(pause=None, holders=None, state=state, forge_prs=(), unavailable={})
    decision = decide(config, parse_backlog(BACKLOG, "backlog.yaml"), facts)
    assert breaker_is_open(config, state) is (decision.reason == "breaker_open")
    return decision.reason


def test_raising_the_threshold_in_the_file_closes_the_breaker_without_a_restart(
    plane: ControlPlane, files: Path
) -> None:
    with ControlPlaneClient(plane.url, plane.token, retries=0) as client:
        fail_once(client, "a1")
        before = load_configs(files)["radix"]
        assert reason(before, client) == "breaker_open"
        (files / "radix.yaml").write_text(TARGET + "circuit_breaker_failures: 3\n")
        raised = load_configs(files)["radix"]
        assert reason(raised, client) is None  # two more failures to go
        fail_once(client, "a2")
        fail_once(client, "a3")
        assert reason(raised, client) == "breaker_open"


def test_the_control_plane_reports_the_count_and_no_verdict_of_its_own(
    plane: ControlPlane,
) -> None:
    """Without a copy of the threshold it cannot disagree with the scheduler."""
    headers = {"Authorization": f"Bearer {plane.token}"}
    with ControlPlaneClient(plane.url, plane.token, retries=0) as client:
        fail_once(client, "a1")
    with httpx.Client(base_url=plane.url, headers=headers, timeout=30) as http:
        state = http.get("/v1/targets/radix/state").json()
        listed = http.get("/v1/targets").json()["targets"]
        metrics = http.get("/metrics").text
    assert state["consecutive_failures"] == 1
    assert "breaker_open" not in state and "breaker_threshold" not in state
    assert listed[0]["consecutive_failures"] == 1 and "breaker_open" not in listed[0]
    assert 'leviathan_consecutive_failures{target="radix"} 1.0' in metrics
    assert "leviathan_breaker_open" not in metrics
