"""Redis locks and semaphores with fencing: the guardrails no race can break.

Every check-and-change runs as one Lua script, so no interleaving of
schedulers, retries or restarts can put more holders into a semaphore than
its cap. Leases use the Redis server's clock (``TIME`` inside the script), so
skewed scheduler clocks cannot shorten or stretch them. Semaphores are sorted
sets (member = attempt id, score = lease expiry); an expired member is purged
before every count, which is the last-resort release when a holder vanished.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from redis import Redis

from leviathan_core.constants import (
    cycle_lock_key,
    fence_key,
    paused_key,
    pr_slots_key,
    running_slots_key,
)

_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: running, pr, fence. ARGV: attempt id, max running, max prs, lease, fence floor.
# The floor keeps fences increasing when a restarted Redis lost the counter.
# Returns {1, fence, running, prs, expiry} or {0, 'running'|'pr', running, prs}.
_RESERVE: Final = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local running = redis.call('ZCARD', KEYS[1])
local prs = redis.call('ZCARD', KEYS[2])
if running >= tonumber(ARGV[2]) then return {0, 'running', running, prs} end
if prs >= tonumber(ARGV[3]) then return {0, 'pr', running, prs} end
local expiry = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
redis.call('ZADD', KEYS[2], expiry, ARGV[1])
local fence = redis.call('INCR', KEYS[3])
if fence <= tonumber(ARGV[5]) then
  fence = tonumber(ARGV[5]) + 1
  redis.call('SET', KEYS[3], fence)
end
return {1, fence, running + 1, prs + 1, tostring(expiry)}
"""
)

# KEYS: the semaphores to extend. ARGV: attempt id, lease seconds.
# Only existing members are extended: a released slot is never resurrected.
_RENEW: Final = (
    _NOW
    + """
local renewed = 0
for i, key in ipairs(KEYS) do
  local score = redis.call('ZSCORE', key, ARGV[1])
  if score and tonumber(score) > now then
    redis.call('ZADD', key, 'XX', now + tonumber(ARGV[2]), ARGV[1])
    renewed = renewed + 1
  end
end
return renewed
"""
)

# KEYS: running, pr. Returns the live members with scores of both, plus the server time.
_HOLDERS: Final = (
    _NOW
    + """
local running = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
local prs = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES')
return {running, prs, tostring(now)}
"""
)

# KEYS: lock. ARGV: token. Delete only when we still own it.
_RELEASE_LOCK: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SlotError(ValueError):
    """A call with arguments that can never succeed (e.g. a negative lease)."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """One running slot plus one PR slot held by ``attempt_id``, and its fence token."""

    target_id: str
    attempt_id: str
    fence: int
    lease_expires_at: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a reservation was refused: the full semaphore and the counts seen."""

    full: str  # "running" | "pr"
    running: int
    prs: int


@dataclass(frozen=True, slots=True)
class Holders:
    """Live members of both semaphores with their lease expiry, at server time ``now``."""

    running: dict[str, datetime]
    pr: dict[str, datetime]
    now: datetime


@dataclass(frozen=True, slots=True)
class PauseState:
    reason: str
    by: str
    until: datetime | None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _at(seconds: Any) -> datetime:
    return datetime.fromtimestamp(float(_text(seconds)), UTC)


def _run(redis: Redis, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run a script by sha; redis-py reloads it after NOSCRIPT (e.g. a restarted server)."""
    return redis.register_script(source)(keys=list(keys), args=list(args))


# --- cycle lock -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a cycle lock and for how long, so a refused tick can say so."""

    holder: str | None  # None: a token without a name (written by an older release)
    held_seconds: float | None
    expires_in_seconds: float

    def describe(self) -> str:
        who = self.holder or "an unnamed holder"
        held = f" for {self.held_seconds:.0f}s" if self.held_seconds is not None else ""
        return f"held by {who}{held}; it expires in {self.expires_in_seconds:.0f}s"


def this_process(role: str) -> str:
    """A lock holder's name: what it does, on which host, as which process."""
    return f"{role} on {socket.gethostname()} pid {os.getpid()}"


def acquire_cycle_lock(
    redis: Redis, target_id: str, ttl_seconds: float, holder: str | None = None
) -> str | None:
    """Take the per-target cycle lock; returns the owner token, or None when held.

    The token is ``<random> <ttl ms> <holder>``: unique for the release check,
    and readable by ``cycle_lock_holder`` for whoever finds the lock taken.
    """
    if ttl_seconds <= 0:
        raise SlotError(f"cycle lock ttl must be positive, got {ttl_seconds}")
    ttl_ms = int(ttl_seconds * 1000)
    token = f"{secrets.token_hex(16)} {ttl_ms} {holder or this_process('cycle lock')}"
    acquired = redis.set(cycle_lock_key(target_id), token, nx=True, px=ttl_ms)
    return token if acquired else None


def cycle_lock_holder(redis: Redis, target_id: str) -> LockHolder | None:
    """The current holder of the cycle lock, or None when it is free."""
    pipe = redis.pipeline(transaction=True)
    pipe.get(cycle_lock_key(target_id))
    pipe.pttl(cycle_lock_key(target_id))
    value, left_ms = pipe.execute()
    if value is None or left_ms is None or int(left_ms) < 0:
        return None
    _, ttl, name = [*_text(value).split(" ", 2), "", ""][:3]
    held = (int(ttl) - int(left_ms)) / 1000 if ttl.isdigit() else None
    return LockHolder(name or None, held, int(left_ms) / 1000)


def release_cycle_lock(redis: Redis, target_id: str, token: str) -> bool:
    """Release only if ``token`` still owns the lock (it may have expired and moved on)."""
    return bool(_run(redis, _RELEASE_LOCK, [cycle_lock_key(target_id)], [token]))


@contextmanager
def cycle_lock(
    redis: Redis, target_id: str, ttl_seconds: float, holder: str | None = None
) -> Iterator[str | None]:
    """``with cycle_lock(...) as token``: token is None when another cycle holds it."""
    token = acquire_cycle_lock(redis, target_id, ttl_seconds, holder)
    try:
        yield token
    finally:
        if token is not None:
            release_cycle_lock(redis, target_id, token)


# --- semaphores ---------------------------------------------------------------------


def try_reserve(
    redis: Redis,
    target_id: str,
    attempt_id: str,
    *,
    max_running: int,
    max_prs: int,
    lease_seconds: float,
    fence_floor: int = 0,
) -> Reservation | Refusal:
    """Atomically purge expired holders, check both caps, take both slots and a fence.

    The fence is larger than every earlier one and than ``fence_floor`` (the
    highest fence the control plane has seen), even after Redis lost its data.
    """
    if lease_seconds <= 0:
        raise SlotError(f"lease must be positive, got {lease_seconds}")
    if not attempt_id:
        raise SlotError("attempt_id must not be empty")
    keys = [running_slots_key(target_id), pr_slots_key(target_id), fence_key(target_id)]
    args = [attempt_id, max_running, max_prs, lease_seconds, fence_floor]
    result = _run(redis, _RESERVE, keys, args)
    if int(result[0]) == 1:
        return Reservation(target_id, attempt_id, int(result[1]), _at(result[4]))
    return Refusal(_text(result[1]), int(result[2]), int(result[3]))


def reserve(
    redis: Redis,
    target_id: str,
    attempt_id: str,
    *,
    max_running: int,
    max_prs: int,
    lease_seconds: float,
    fence_floor: int = 0,
) -> Reservation | None:
    """The reservation, or None when either semaphore is at its cap."""
    outcome = try_reserve(
        redis,
        target_id,
        attempt_id,
        max_running=max_running,
        max_prs=max_prs,
        lease_seconds=lease_seconds,
        fence_floor=fence_floor,
    )
    return outcome if isinstance(outcome, Reservation) else None


def release_running(redis: Redis, target_id: str, attempt_id: str) -> bool:
    """Give back the running slot; False when it was not held (already released or expired)."""
    return bool(redis.zrem(running_slots_key(target_id), attempt_id))


def release_pr(redis: Redis, target_id: str, attempt_id: str) -> bool:
    """Give back the PR slot; False when it was not held."""
    return bool(redis.zrem(pr_slots_key(target_id), attempt_id))


def renew(
    redis: Redis,
    target_id: str,
    attempt_id: str,
    *,
    lease_seconds: float,
    running: bool = True,
    pr: bool = True,
) -> int:
    """Extend the live slots ``attempt_id`` holds to now + lease; returns how many."""
    if lease_seconds <= 0:
        raise SlotError(f"lease must be positive, got {lease_seconds}")
    keys = [running_slots_key(target_id)] if running else []
    keys += [pr_slots_key(target_id)] if pr else []
    if not keys:
        return 0
    return int(_run(redis, _RENEW, keys, [attempt_id, lease_seconds]))


def holders(redis: Redis, target_id: str) -> Holders:
    """Who holds which slot right now (expired members are not listed)."""
    running, prs, now = _run(
        redis, _HOLDERS, [running_slots_key(target_id), pr_slots_key(target_id)], []
    )

    def pairs(flat: list[Any]) -> dict[str, datetime]:
        return {_text(flat[i]): _at(flat[i + 1]) for i in range(0, len(flat), 2)}

    return Holders(pairs(running), pairs(prs), _at(now))


def current_fence(redis: Redis, target_id: str) -> int:
    """The last fence token handed out (0 before the first reservation)."""
    value = redis.get(fence_key(target_id))
    return int(_text(value)) if value is not None else 0


# --- pause flag ---------------------------------------------------------------------


def pause(
    redis: Redis,
    target_id: str,
    *,
    reason: str,
    by: str,
    for_seconds: float | None = None,
    now: datetime | None = None,
) -> PauseState:
    """Set the pause flag; with ``for_seconds`` Redis expires it, so it resumes by itself."""
    if for_seconds is not None and for_seconds <= 0:
        raise SlotError(f"pause duration must be positive, got {for_seconds}")
    until = None
    if for_seconds is not None:
        until = (now or datetime.now(UTC)) + timedelta(seconds=for_seconds)
    key = paused_key(target_id)
    pipe = redis.pipeline(transaction=True)
    pipe.delete(key)
    pipe.hset(
        key, mapping={"reason": reason, "by": by, "until": until.isoformat() if until else ""}
    )
    if for_seconds is not None:
        pipe.pexpire(key, max(1, int(for_seconds * 1000)))
    pipe.execute()
    return PauseState(reason, by, until)


def resume(redis: Redis, target_id: str) -> bool:
    """Clear the pause flag; False when the target was not paused."""
    return bool(redis.delete(paused_key(target_id)))


def pause_state(redis: Redis, target_id: str) -> PauseState | None:
    """The pause flag, or None when the target is not paused (or the pause expired)."""
    raw = redis.hgetall(paused_key(target_id))
    if not raw:
        return None
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return PauseState(
        reason=fields.get("reason", ""),
        by=fields.get("by", ""),
        until=_parse_until(fields.get("until") or None),
    )


def _parse_until(value: str | None) -> datetime | None:
    """A hand-edited ``until`` that does not parse still means paused (fail closed)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
