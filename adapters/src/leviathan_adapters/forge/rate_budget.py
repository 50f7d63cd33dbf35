"""One GitHub rate-limit budget per token, shared in Redis by every target and process.

GitHub counts requests per token, not per repository: when 10,000 targets
share a token and the budget runs out, every target's next request would be
refused on its own, each one spending a request to learn it. Instead, the
first answer that says "stop" (a 403/429 with ``Retry-After``, or
``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``, or a bare 429) puts
a hold in Redis until the time GitHub names; every forge of that token then
skips its requests (``ForgeUnavailable``: the cycle records
``fact_unavailable:forge`` with the time the hold ends) without calling
GitHub, and the first request after the hold finds the budget renewed.

The hold is read at most every ``CHECK_EVERY`` seconds per process (one
Redis read, not one per request); a hold set elsewhere is thus honoured
within that time, and a request sent meanwhile only meets GitHub's own
refusal, which sets the same hold again. Redis unreachable: no hold is known,
and GitHub's own answers still stop each request (fail closed per request).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CHECK_EVERY = 0.5
BARE_429_SECONDS = 60  # GitHub: without headers, wait at least a minute
KEY_PREFIX = "leviathan:github-hold:"


@dataclass(frozen=True)
class Hold:
    until: float  # epoch seconds
    why: str

    def describe(self, now: float) -> str:
        at = datetime.fromtimestamp(self.until, UTC).strftime("%H:%M:%SZ")
        return (
            f"{self.why}; every request of this token waits until {at} ({self.until - now:.0f} s)"
        )


def hold_for(status: int, headers: Mapping[str, str], now: float) -> Hold | None:
    """Pure: the hold one GitHub answer calls for, or None."""
    h = {str(k).lower(): str(v).strip() for k, v in headers.items()}
    remaining, reset, retry_after = (
        h.get("x-ratelimit-remaining"),
        h.get("x-ratelimit-reset", ""),
        h.get("retry-after", ""),
    )
    if status in (403, 429) and retry_after.isdigit():
        return Hold(now + int(retry_after), "GitHub's secondary rate limit")
    if remaining == "0" and reset.isdigit() and int(reset) > now:
        return Hold(float(reset), "GitHub's rate limit for this token is spent")
    if status == 429:
        return Hold(now + BARE_429_SECONDS, "GitHub answered 429 without Retry-After")
    return None


def budget_key(api_url: str, token: str | None) -> str:
    """The Redis key of a token's hold; the token itself is never stored."""
    digest = hashlib.sha256(f"{api_url.rstrip('/')}\0{token or ''}".encode()).hexdigest()
    return KEY_PREFIX + digest[:24]


class RateBudget:
    """The hold of one token, read from and written to Redis (thread-safe)."""

    def __init__(self, redis: Redis, key: str, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self.key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._hold: Hold | None = None

    def current(self) -> Hold | None:
        """The hold in force now, or None (Redis read at most every ``CHECK_EVERY`` s)."""
        now = self._clock()
        with self._lock:
            if now - self._checked_at >= CHECK_EVERY:
                self._hold = self._read()
                self._checked_at = now
            hold = self._hold
        return hold if hold is not None and hold.until > now else None

    def observe(self, status: int, headers: Mapping[str, str]) -> Hold | None:
        """Record the hold an answer calls for (kept when a longer one is in force)."""
        now = self._clock()
        hold = hold_for(status, headers, now)
        if hold is None:
            return None
        with self._lock:
            if self._hold is None or self._hold.until < hold.until:
                self._hold = hold
                self._checked_at = now
        try:
            value = json.dumps({"until": hold.until, "why": hold.why})
            current = self._read()
            if current is None or current.until < hold.until:
                self._redis.set(self.key, value, exat=int(hold.until) + 1)
        except RedisError as exc:
            log.warning("GitHub hold not shared (Redis: %s); this process keeps it", exc)
        log.warning("GitHub rate limit: %s", hold.describe(now))
        return hold

    def _read(self) -> Hold | None:
        try:
            raw = self._redis.get(self.key)
        except RedisError:
            return self._hold  # what this process knows
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return Hold(float(data["until"]), str(data["why"]))
        except (ValueError, KeyError, TypeError):
            return None
