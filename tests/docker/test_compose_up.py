"""``docker compose up`` with the images built from this repository, to a pull request.

docker-compose.yml runs as users run it; ``compose.test.yml`` only adds the forge
(GitHub's API and the target repository over git's smart HTTP, behind a token)
and a short tick. Everything is asserted from outside the containers: the forge's
pull requests, the control plane's API, Flower's API, the celery CLI through
``docker compose exec``, and ``docker inspect``. The tests run in file order on
the session's stack (tests/docker/conftest.py); the last one restarts it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.docker.stack import ALLOWED, LEVIATHAN_SERVICES, SEED_EVENTS, Stack


def test_a_tick_opens_exactly_one_pr_in_scope(stack: Stack) -> None:
    def finished() -> dict[str, Any] | None:
        attempts = stack.api("/v1/attempts", target="demo")["attempts"]
        done = [a for a in attempts if a["status"] in ("succeeded", "failed")]
        return done[0] if done else None

    attempt = stack.wait("an attempt finishes", finished)
    assert attempt["status"] == "succeeded", stack.api(f"/v1/attempts/{attempt['attempt_id']}")
    assert attempt["task_id"] == "getting-started-guide"
    pulls = stack.forge("/pulls", state="all")
    assert len(pulls) == 1, pulls
    assert pulls[0]["head"]["ref"].startswith("agent/")
    assert pulls[0]["html_url"] == attempt["pr_url"] or str(pulls[0]["number"]) in attempt["pr_url"]
    files = [f["filename"] for f in stack.forge(f"/pulls/{pulls[0]['number']}/files")]
    assert files, "the PR changes no file"
    assert all(name.startswith(ALLOWED) for name in files), files
    # The next ticks see the open PR and stop at the cap.
    stack.wait(
        "a later tick prints Open PRs: 1/1",
        lambda: True if "Open PRs: 1/1" in stack.logs("scheduler-worker", tail=400) else None,
        timeout=120,
    )
    assert "max_open_prs" in stack.logs("scheduler-worker", tail=400)
    assert len(stack.forge("/pulls", state="all")) == 1


def test_graph_summary_shows_the_seed_events(stack: Stack) -> None:
    summary = stack.api("/v1/graph/summary")
    assert {"nodes_by_type", "edges_by_type", "recent_events"} <= summary.keys()
    counted = {kind for kind, count in summary["events_by_type"].items() if count > 0}
    assert counted >= SEED_EVENTS, summary["events_by_type"]
    assert summary["recent_events"], "no recent events"
    assert {event["target"] for event in summary["recent_events"]} == {"demo"}
    assert summary["attempts_by_status"].get("succeeded") == 1, summary["attempts_by_status"]
    unauthorized = httpx.get(f"http://127.0.0.1:{stack.ports['control-plane']}/v1/graph/summary")
    assert unauthorized.status_code == 401


def test_flower_lists_the_scheduler_and_dispatcher_workers(stack: Stack) -> None:
    def workers() -> list[str] | None:
        url = f"http://127.0.0.1:{stack.ports['flower']}/api/workers"
        names = list(httpx.get(url, params={"refresh": 1}, timeout=30).json())
        prefixes = {name.split("@")[0] for name in names}
        return names if {"scheduler", "dispatcher"} <= prefixes else None

    names = stack.wait("Flower lists both workers", workers, timeout=120)
    assert len(names) >= 2
    assert httpx.get(f"http://127.0.0.1:{stack.ports['flower']}/", timeout=10).status_code == 200


def celery(stack: Stack, *args: str) -> str:
    return stack.compose(
        "exec", "-T", "scheduler-worker", "celery", "-A", "leviathan_scheduler.celery_app", *args
    )


def test_celery_cli_pings_and_purges_as_the_readme_says(stack: Stack) -> None:
    pong = celery(stack, "inspect", "ping", "-t", "5")
    assert re.search(r"scheduler@\S+: OK\s+pong", pong), pong
    assert re.search(r"dispatcher@\S+: OK\s+pong", pong), pong
    celery(stack, "control", "cancel_consumer", "leviathan.dispatch", "-t", "5")
    try:
        send = (
            "from leviathan_scheduler.celery_app import app\n"
            "for n in range(2):\n"
            "    app.send_task('leviathan.dispatch.start_attempt', args=[{'bad': n}],"
            " queue='leviathan.dispatch')\n"
        )
        stack.compose("exec", "-T", "scheduler-worker", "python", "-c", send)
        purged = celery(stack, "purge", "-Q", "leviathan.dispatch", "-f")
        assert "Purged 2 messages" in purged, purged
    finally:
        celery(stack, "control", "add_consumer", "leviathan.dispatch", "-t", "5")


def test_every_container_runs_hardened_as_non_root(stack: Stack) -> None:
    ids = stack.compose("ps", "-q").split()
    inspected = json.loads(stack.engine.docker("inspect", *ids).stdout)
    seen = set()
    for container in inspected:
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        seen.add(service)
        host = container["HostConfig"]
        user = container["Config"]["User"]
        assert user and user.split(":")[0] not in ("root", "0"), f"{service}: user {user!r}"
        assert host["ReadonlyRootfs"] is True, service
        assert host["CapDrop"] == ["ALL"], service
        assert "no-new-privileges:true" in (host["SecurityOpt"] or []), service
        uid = stack.compose("exec", "-T", service, "id", "-u").strip()
        assert uid != "0", f"{service} runs as root"
    assert set(LEVIATHAN_SERVICES) <= seen, seen


def test_restart_and_down_up_lose_no_event(stack: Stack) -> None:
    before = {stored["event"]["event_id"] for stored in stack.events()}
    assert len(before) >= len(SEED_EVENTS)
    stack.compose("restart", "control-plane")
    stack.wait("the control plane answers after a restart", lambda: stack.api("/readyz") or None)
    after_restart = {stored["event"]["event_id"] for stored in stack.events()}
    assert before <= after_restart
    stack.compose("down", timeout=300)
    stack.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "240", timeout=400)
    after_up = {stored["event"]["event_id"] for stored in stack.events()}
    assert after_restart <= after_up, after_restart - after_up
    assert stack.api("/v1/events/verify", target_id="demo")["ok"] is True
    assert len(stack.forge("/pulls", state="all")) == 1
