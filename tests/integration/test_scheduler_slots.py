"""Slots against a real redis-server: races between threads and processes, restarts."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest
import redis
from tests.support.scheduler_stack import scheduler_stack
from tests.support.servers import RedisServer

from leviathan_adapters import slots
from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_core.events import EventType, new_event
from leviathan_scheduler.cycle import run_cycle


def _race_in_process(url: str, worker: int, rounds: int, barrier: object) -> list[int]:
    """Reserve from one process; returns the fence tokens it won."""
    client = redis.Redis.from_url(url)
    barrier.wait()  # type: ignore[attr-defined]
    won = []
    for i in range(rounds):
        got = slots.reserve(
            client, "race", f"p{worker}-{i}", max_running=3, max_prs=2, lease_seconds=60
        )
        if got is not None:
            won.append(got.fence)
    client.close()
    return won


def test_threads_racing_never_exceed_either_cap(redis_url: str) -> None:
    barrier = threading.Barrier(24)
    results: list[slots.Reservation | None] = []
    lock = threading.Lock()

    def contend(n: int) -> None:
        client = redis.Redis.from_url(redis_url)
        barrier.wait()
        got = slots.reserve(client, "race", f"t{n}", max_running=3, max_prs=2, lease_seconds=60)
        with lock:
            results.append(got)
        client.close()

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r is not None]
    assert len(results) == 24
    assert len(winners) == 2  # the PR cap (2) is the tighter one
    assert sorted(w.fence for w in winners) == [1, 2]
    seen = slots.holders(redis.Redis.from_url(redis_url), "race")
    assert set(seen.running) == set(seen.pr) == {w.attempt_id for w in winners}


def test_processes_racing_with_releases_never_exceed_the_caps(redis_url: str) -> None:
    """4 processes reserve in a loop while the test releases; holders stay within caps."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(5)
    client = redis.Redis.from_url(redis_url)
    with ctx.Pool(4) as pool:
        pending = [
            pool.apply_async(_race_in_process, (redis_url, w, 200, barrier)) for w in range(4)
        ]
        barrier.wait()
        max_running_seen = max_pr_seen = 0
        while not all(p.ready() for p in pending):
            seen = slots.holders(client, "race")
            max_running_seen = max(max_running_seen, len(seen.running))
            max_pr_seen = max(max_pr_seen, len(seen.pr))
            for attempt in list(seen.pr)[:1]:
                slots.release_running(client, "race", attempt)
                slots.release_pr(client, "race", attempt)
        fences = [f for p in pending for f in p.get(timeout=60)]
    assert max_running_seen <= 3
    assert max_pr_seen <= 2
    assert len(fences) == len(set(fences))  # every fence token handed out once
    assert slots.current_fence(client, "race") == len(fences)
    assert len(slots.holders(client, "race").pr) <= 2


def test_scripts_survive_a_redis_restart(tmp_path: Path) -> None:
    """After a restart the script cache is empty; the scripts are loaded again."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        assert slots.reserve(client, "t", "a1", max_running=1, max_prs=1, lease_seconds=60)
        server.stop()
        with pytest.raises(redis.ConnectionError):
            slots.holders(client, "t")
        server.start()
        # The restarted server has no data (no persistence): the caps still hold.
        assert slots.holders(client, "t").running == {}
        first = slots.reserve(client, "t", "a2", max_running=1, max_prs=1, lease_seconds=60)
        assert first is not None
        assert slots.reserve(client, "t", "a3", max_running=1, max_prs=1, lease_seconds=60) is None
    finally:
        server.stop()


def test_cycle_lock_under_contention_has_one_owner(redis_url: str) -> None:
    barrier = threading.Barrier(16)
    tokens: list[str | None] = []

    def contend() -> None:
        client = redis.Redis.from_url(redis_url)
        barrier.wait()
        tokens.append(slots.acquire_cycle_lock(client, "lock", 30))
        client.close()

    threads = [threading.Thread(target=contend) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([t for t in tokens if t is not None]) == 1


def test_fences_stay_above_the_control_planes_after_redis_restarts_empty(tmp_path: Path) -> None:
    """docs/scheduler.md's promise: a fence is above every fence the control plane has seen,
    also when Redis lost its counter and the attempts that held it have ended."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        with scheduler_stack(tmp_path / "stack", server.url) as stack:
            runtime = stack.runtime()
            config = runtime.config_for("radix")
            first = run_cycle(config, runtime.deps_for(config))
            assert (first.status, first.fence) == ("dispatched", 1), first
            assert first.attempt_id is not None
            with ControlPlaneClient(stack.cp.url, stack.cp.token) as client:
                client.post_event(
                    new_event(
                        EventType.ATTEMPT_FAILED,
                        target_id="radix",
                        actor="worker",
                        attempt_id=first.attempt_id,
                        fence=first.fence,
                        payload={"reason": "engine_failed", "message": "the engine failed"},
                    )
                )
                assert client.target_state("radix").running_attempts == []
            server.stop()
            server.start()  # no persistence: the fence counter is gone
            second = run_cycle(config, runtime.deps_for(config))
            assert second.status == "dispatched", second
            assert second.fence is not None and second.fence > first.fence
            assert slots.current_fence(redis.Redis.from_url(server.url), "radix") == second.fence
    finally:
        server.stop()
