"""Slots, locks, fences and the pause flag against fakeredis (with Lua)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import fakeredis
import pytest

from leviathan_adapters import slots
from leviathan_core.constants import paused_key, pr_slots_key, running_slots_key


@pytest.fixture
def r() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def test_cycle_lock_excludes_a_second_owner_and_releases_only_for_the_owner(
    r: fakeredis.FakeRedis,
) -> None:
    token = slots.acquire_cycle_lock(r, "radix", 30)
    assert token is not None
    assert slots.acquire_cycle_lock(r, "radix", 30) is None
    assert slots.acquire_cycle_lock(r, "other", 30) is not None
    assert slots.release_cycle_lock(r, "radix", "not-the-token") is False
    assert slots.acquire_cycle_lock(r, "radix", 30) is None
    assert slots.release_cycle_lock(r, "radix", token) is True
    assert slots.acquire_cycle_lock(r, "radix", 30) is not None


def test_the_cycle_lock_names_its_holder(r: fakeredis.FakeRedis) -> None:
    assert slots.cycle_lock_holder(r, "radix") is None
    assert slots.acquire_cycle_lock(r, "radix", 30, holder="select cycle on h pid 9")
    holder = slots.cycle_lock_holder(r, "radix")
    assert holder is not None
    assert holder.holder == "select cycle on h pid 9"
    assert holder.held_seconds is not None and 0 <= holder.held_seconds < 5
    assert 25 < holder.expires_in_seconds <= 30
    assert holder.describe().startswith("held by select cycle on h pid 9 for 0s; it expires in ")
    r.set("leviathan:other:cycle", "0123abcd", px=30_000)  # a token without a name
    legacy = slots.cycle_lock_holder(r, "other")
    assert legacy is not None and (legacy.holder, legacy.held_seconds) == (None, None)
    assert legacy.describe().startswith("held by an unnamed holder; it expires in ")


def test_cycle_lock_expires(r: fakeredis.FakeRedis) -> None:
    assert slots.acquire_cycle_lock(r, "radix", 0.05) is not None
    time.sleep(0.1)  # the lock's 50 ms run out (a Redis expiry; no clock to advance)
    assert slots.acquire_cycle_lock(r, "radix", 30) is not None


def test_cycle_lock_context_manager(r: fakeredis.FakeRedis) -> None:
    with slots.cycle_lock(r, "radix", 30) as token:
        assert token is not None
        with slots.cycle_lock(r, "radix", 30) as second:
            assert second is None
    with slots.cycle_lock(r, "radix", 30) as again:
        assert again is not None


def test_reserve_takes_both_slots_and_increments_the_fence(r: fakeredis.FakeRedis) -> None:
    first = slots.reserve(r, "radix", "a1", max_running=2, max_prs=2, lease_seconds=60)
    second = slots.reserve(r, "radix", "a2", max_running=2, max_prs=2, lease_seconds=60)
    assert first is not None
    assert second is not None
    assert (first.fence, second.fence) == (1, 2)
    assert slots.current_fence(r, "radix") == 2
    seen = slots.holders(r, "radix")
    assert set(seen.running) == set(seen.pr) == {"a1", "a2"}
    assert first.lease_expires_at > seen.now


@pytest.mark.parametrize(
    ("max_running", "max_prs", "full"),
    [(1, 5, "running"), (5, 1, "pr"), (0, 5, "running"), (5, 0, "pr")],
)
def test_reserve_refuses_at_either_cap(
    r: fakeredis.FakeRedis, max_running: int, max_prs: int, full: str
) -> None:
    if max_running and max_prs:
        assert slots.reserve(
            r, "t", "a1", max_running=max_running, max_prs=max_prs, lease_seconds=60
        )
    outcome = slots.try_reserve(
        r, "t", "a2", max_running=max_running, max_prs=max_prs, lease_seconds=60
    )
    assert isinstance(outcome, slots.Refusal)
    assert outcome.full == full
    assert "a2" not in slots.holders(r, "t").running
    # A refusal hands out no fence token.
    assert slots.current_fence(r, "t") == (1 if max_running and max_prs else 0)


def test_a_released_running_slot_keeps_the_pr_slot(r: fakeredis.FakeRedis) -> None:
    assert slots.reserve(r, "t", "a1", max_running=1, max_prs=2, lease_seconds=60)
    assert slots.release_running(r, "t", "a1") is True
    assert slots.release_running(r, "t", "a1") is False
    seen = slots.holders(r, "t")
    assert seen.running == {}
    assert set(seen.pr) == {"a1"}
    assert slots.reserve(r, "t", "a2", max_running=1, max_prs=2, lease_seconds=60)
    assert slots.reserve(r, "t", "a3", max_running=5, max_prs=2, lease_seconds=60) is None
    assert slots.release_pr(r, "t", "a1") is True
    assert slots.reserve(r, "t", "a3", max_running=5, max_prs=2, lease_seconds=60)


def test_expired_leases_are_purged_before_counting(r: fakeredis.FakeRedis) -> None:
    assert slots.reserve(r, "t", "old", max_running=1, max_prs=1, lease_seconds=0.05)
    time.sleep(0.1)  # the lease runs out: the point of the test
    assert slots.holders(r, "t").running == {}
    assert slots.reserve(r, "t", "new", max_running=1, max_prs=1, lease_seconds=60)
    assert r.zscore(running_slots_key("t"), "old") is None
    assert r.zscore(pr_slots_key("t"), "old") is None


def test_renew_extends_only_live_members(r: fakeredis.FakeRedis) -> None:
    assert slots.reserve(r, "t", "a1", max_running=1, max_prs=1, lease_seconds=0.2)
    before = slots.holders(r, "t").running["a1"]
    assert slots.renew(r, "t", "a1", lease_seconds=600) == 2
    after = slots.holders(r, "t")
    assert after.running["a1"] > before + timedelta(seconds=300)
    assert slots.renew(r, "t", "a1", lease_seconds=600, running=False) == 1
    assert slots.renew(r, "t", "ghost", lease_seconds=600) == 0
    slots.release_running(r, "t", "a1")
    assert slots.renew(r, "t", "a1", lease_seconds=600) == 1
    assert "a1" not in slots.holders(r, "t").running


def test_renew_does_not_resurrect_an_expired_member(r: fakeredis.FakeRedis) -> None:
    assert slots.reserve(r, "t", "a1", max_running=1, max_prs=1, lease_seconds=0.05)
    time.sleep(0.1)  # the lease runs out: the point of the test
    assert slots.renew(r, "t", "a1", lease_seconds=600) == 0
    assert slots.holders(r, "t").running == {}


@pytest.mark.parametrize("lease", [0, -1])
def test_bad_arguments_are_refused(r: fakeredis.FakeRedis, lease: float) -> None:
    with pytest.raises(slots.SlotError, match="lease"):
        slots.reserve(r, "t", "a", max_running=1, max_prs=1, lease_seconds=lease)
    with pytest.raises(slots.SlotError, match="lease"):
        slots.renew(r, "t", "a", lease_seconds=lease)
    with pytest.raises(slots.SlotError, match="ttl"):
        slots.acquire_cycle_lock(r, "t", lease)
    with pytest.raises(slots.SlotError, match="duration"):
        slots.pause(r, "t", reason="x", by="me", for_seconds=lease)


def test_keys_are_per_target(r: fakeredis.FakeRedis) -> None:
    assert slots.reserve(r, "a", "x1", max_running=1, max_prs=1, lease_seconds=60)
    assert slots.reserve(r, "b", "x1", max_running=1, max_prs=1, lease_seconds=60)
    assert slots.current_fence(r, "a") == slots.current_fence(r, "b") == 1


def test_pause_without_expiry_until_resumed(r: fakeredis.FakeRedis) -> None:
    assert slots.pause_state(r, "t") is None
    state = slots.pause(r, "t", reason="maintenance", by="alice")
    assert state.until is None
    assert slots.pause_state(r, "t") == slots.PauseState("maintenance", "alice", None)
    assert r.ttl(paused_key("t")) == -1
    assert slots.resume(r, "t") is True
    assert slots.resume(r, "t") is False
    assert slots.pause_state(r, "t") is None


def test_pause_with_expiry_resumes_by_itself(r: fakeredis.FakeRedis) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    state = slots.pause(r, "t", reason="deploy", by="bob", for_seconds=0.1, now=now)
    assert state.until == now + timedelta(seconds=0.1)
    seen = slots.pause_state(r, "t")
    assert seen is not None
    assert seen.until == state.until
    time.sleep(0.2)  # the pause's 100 ms run out (a Redis expiry; no clock to advance)
    assert slots.pause_state(r, "t") is None


def test_a_new_pause_without_expiry_replaces_a_timed_one(r: fakeredis.FakeRedis) -> None:
    slots.pause(r, "t", reason="short", by="bob", for_seconds=60)
    slots.pause(r, "t", reason="long", by="bob")
    assert r.ttl(paused_key("t")) == -1
    seen = slots.pause_state(r, "t")
    assert seen is not None
    assert seen.reason == "long"
    assert seen.until is None


def test_works_with_decoded_responses() -> None:
    client = fakeredis.FakeRedis(decode_responses=True)
    reservation = slots.reserve(client, "t", "a1", max_running=1, max_prs=1, lease_seconds=60)
    assert reservation is not None
    assert reservation.fence == 1
    assert set(slots.holders(client, "t").running) == {"a1"}
    slots.pause(client, "t", reason="r", by="me")
    assert slots.pause_state(client, "t") == slots.PauseState("r", "me", None)
    assert slots.current_fence(client, "t") == 1


def test_fence_floor_keeps_fences_increasing_after_a_lost_counter(
    r: fakeredis.FakeRedis,
) -> None:
    first = slots.reserve(r, "t", "a1", max_running=5, max_prs=5, lease_seconds=60, fence_floor=41)
    assert first is not None
    assert first.fence == 42
    second = slots.reserve(r, "t", "a2", max_running=5, max_prs=5, lease_seconds=60, fence_floor=3)
    assert second is not None
    assert second.fence == 43


def test_hand_edited_pause_expiry_still_pauses(r: fakeredis.FakeRedis) -> None:
    r.hset(paused_key("radix"), mapping={"reason": "ops", "by": "me", "until": "next tuesday"})
    state = slots.pause_state(r, "radix")
    assert state is not None
    assert (state.reason, state.until) == ("ops", None)
