"""GitHub webhooks against the control plane under uvicorn and a real redis-server:
signed deliveries queue the scheduler's select cycle on the broker, debounced."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis
from tests.support.control_plane import running_control_plane

from leviathan_control_plane.app import create_app
from leviathan_control_plane.settings import ControlPlaneSettings, SettingsError
from leviathan_core.constants import QUEUE_SCHEDULER, TASK_SELECT_CYCLE, webhook_delivery_key

SECRET = "webhook-secret"
TARGET = "target_id: radix\ntarget_repo_url: https://github.com/acme/radix.git\n"
PR_CLOSED = {
    "action": "closed",
    "repository": {"full_name": "acme/radix"},
    "pull_request": {"head": {"ref": "agent/backlog-propose-attempt-a-0123abcd"}, "merged": True},
}


def deliver(
    client: httpx.Client,
    event: str,
    payload: Any,
    *,
    secret: str = SECRET,
    delivery: str = "d-1",
    form: bool = False,
) -> httpx.Response:
    """As GitHub sends it: JSON, or ``payload=<json>`` form-encoded; signed either way."""
    text = json.dumps(payload)
    body = urlencode({"payload": text}).encode() if form else text.encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
    }
    return client.post("/v1/webhooks/github", content=body, headers=headers)


def queued_cycles(redis_url: str) -> list[tuple[str, list[Any]]]:
    """(task name, args) of every message waiting on the scheduler's queue."""
    client = redis.Redis.from_url(redis_url)
    out = []
    for raw in client.lrange(QUEUE_SCHEDULER, 0, -1):
        envelope = json.loads(raw)
        args = json.loads(base64.b64decode(envelope["body"]))[0]
        out.append((envelope["headers"]["task"], args))
    return out


@pytest.fixture
def cp(tmp_path: Path, redis_url: str) -> Iterator[httpx.Client]:
    config = tmp_path / "autonomy"
    config.mkdir()
    (config / "radix.yaml").write_text(TARGET)
    with (
        running_control_plane(
            tmp_path / "cp",
            config=config,
            github_webhook_secret=SECRET,
            redis_url=redis_url,
            webhook_debounce_seconds=30,
        ) as running,
        httpx.Client(base_url=running.url, timeout=30) as client,
    ):
        yield client


def test_a_closed_agent_pr_queues_one_cycle_and_a_burst_is_debounced(
    cp: httpx.Client, redis_url: str
) -> None:
    first = deliver(cp, "pull_request", PR_CLOSED)
    assert first.status_code == 202, first.text
    assert first.json() | {"delivery": None} == {
        "status": "queued",
        "event": "pull_request",
        "delivery": None,
        "reason": "agent/ pull request closed",
        "queued": ["radix"],
        "debounced": [],
    }
    again = deliver(cp, "pull_request", PR_CLOSED, delivery="d-2")
    assert (again.status_code, again.json()["debounced"]) == (202, ["radix"])
    assert queued_cycles(redis_url) == [(TASK_SELECT_CYCLE, ["radix"])]
    metrics = cp.get("/metrics").text
    assert 'leviathan_webhooks_total{event="pull_request",outcome="queued"} 1.0' in metrics
    assert 'leviathan_webhooks_total{event="pull_request",outcome="debounced"} 1.0' in metrics


def test_a_backlog_push_queues_a_cycle_and_other_pushes_do_not(
    cp: httpx.Client, redis_url: str
) -> None:
    other = {
        "ref": "refs/heads/main",
        "repository": {"full_name": "acme/radix"},
        "commits": [{"added": ["docs/a.md"], "modified": [], "removed": []}],
    }
    ignored = deliver(cp, "push", other)
    assert (ignored.status_code, ignored.json()["status"]) == (202, "ignored")
    assert "does not touch .leviathan/backlog.yaml" in ignored.json()["reason"]
    assert queued_cycles(redis_url) == []
    other["commits"][0]["modified"] = [".leviathan/backlog.yaml"]
    hit = deliver(cp, "push", other, form=True, delivery="d-2")
    assert hit.json()["queued"] == ["radix"]
    assert queued_cycles(redis_url) == [(TASK_SELECT_CYCLE, ["radix"])]


def test_a_redelivery_is_answered_duplicate_and_queues_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    """Debounce off, so only the delivery id can stop the second cycle."""
    config = tmp_path / "radix.yaml"
    config.write_text(TARGET)
    with (
        running_control_plane(
            tmp_path / "cp",
            config=config,
            github_webhook_secret=SECRET,
            redis_url=redis_url,
            webhook_debounce_seconds=0,
        ) as running,
        httpx.Client(base_url=running.url, timeout=30) as client,
    ):
        first = deliver(client, "pull_request", PR_CLOSED, delivery="guid-1")
        again = deliver(client, "pull_request", PR_CLOSED, delivery="guid-1")
        other = deliver(client, "pull_request", PR_CLOSED, delivery="guid-2")
        refused = deliver(client, "push", {"ref": 1e400}, delivery="guid-3")
        retried = deliver(client, "pull_request", PR_CLOSED, delivery="guid-3")
        odd = deliver(client, "pull_request", PR_CLOSED, delivery="x" * 101)
        metrics = client.get("/metrics").text
    assert (first.status_code, first.json()["status"]) == (202, "queued")
    assert (again.status_code, again.json()["status"], again.json()["queued"]) == (
        200,
        "duplicate",
        [],
    )
    assert other.json()["status"] == "queued"
    assert refused.status_code == 422 and "Infinity" in refused.json()["detail"]
    assert retried.json()["status"] == "queued"  # a delivery that failed is not remembered
    assert odd.status_code == 422 and "X-GitHub-Delivery" in odd.json()["detail"]
    assert queued_cycles(redis_url) == [(TASK_SELECT_CYCLE, ["radix"])] * 3
    assert 'leviathan_webhooks_total{event="pull_request",outcome="duplicate"} 1.0' in metrics
    ttl = redis.Redis.from_url(redis_url).ttl(webhook_delivery_key("guid-1"))
    assert 2 * 24 * 3600 < ttl <= 3 * 24 * 3600


def test_signatures_pings_and_bad_bodies(cp: httpx.Client, redis_url: str) -> None:
    wrong = deliver(cp, "pull_request", PR_CLOSED, secret="guess")
    assert wrong.status_code == 401
    assert "X-Hub-Signature-256" in wrong.json()["detail"]
    unsigned = cp.post("/v1/webhooks/github", json=PR_CLOSED, headers={"X-GitHub-Event": "push"})
    assert unsigned.status_code == 401
    pong = deliver(cp, "ping", {"zen": "Design for failure."})
    assert (pong.status_code, pong.json()["status"]) == (202, "pong")
    listed = deliver(cp, "push", ["not", "an", "object"])
    assert listed.status_code == 422
    assert "JSON object" in listed.json()["detail"]
    assert queued_cycles(redis_url) == []
    metrics = cp.get("/metrics").text
    assert 'leviathan_webhooks_total{event="-",outcome="unsigned"} 2.0' in metrics
    assert 'leviathan_webhooks_total{event="push",outcome="failed"} 1.0' in metrics
    assert 'leviathan_webhooks_total{event="ping",outcome="pong"} 1.0' in metrics


def test_a_broken_target_file_is_a_503_naming_it(
    cp: httpx.Client, tmp_path: Path, redis_url: str
) -> None:
    (tmp_path / "autonomy" / "radix.yaml").write_text(TARGET + "max_open_prs: -1\n")
    answer = deliver(cp, "pull_request", PR_CLOSED)
    assert answer.status_code == 503
    assert "radix.yaml" in answer.json()["detail"] and "max_open_prs" in answer.json()["detail"]
    assert queued_cycles(redis_url) == []


def test_an_unreachable_broker_is_a_503(tmp_path: Path) -> None:
    config = tmp_path / "radix.yaml"
    config.write_text(TARGET)
    with (
        running_control_plane(
            tmp_path / "cp",
            config=config,
            github_webhook_secret=SECRET,
            redis_url="redis://127.0.0.1:1/0",
        ) as running,
        httpx.Client(base_url=running.url, timeout=30) as client,
    ):
        answer = deliver(client, "pull_request", PR_CLOSED)
        off = client.get("/healthz")
    assert answer.status_code == 503
    assert "could not record delivery d-1" in answer.json()["detail"]  # Redis is the broker
    assert off.status_code == 200  # the service itself stays up


def test_webhooks_are_off_without_a_secret_and_half_a_setup_is_refused(tmp_path: Path) -> None:
    with running_control_plane(tmp_path / "cp") as running:
        off = httpx.post(f"{running.url}/v1/webhooks/github", json={}, timeout=30)
    assert off.status_code == 404
    assert "LEVIATHAN_GITHUB_WEBHOOK_SECRET" in off.json()["detail"]
    half = ControlPlaneSettings(
        control_plane_token="t", data_dir=str(tmp_path), github_webhook_secret=SECRET
    )
    with pytest.raises(SettingsError, match="LEVIATHAN_REDIS_URL and LEVIATHAN_CONFIG"):
        create_app(half)
