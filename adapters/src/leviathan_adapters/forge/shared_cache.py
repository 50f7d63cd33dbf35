"""The forge's conditional-request cache, shared in Redis by the processes of one token.

Each forge keeps the ETag and body of every GET it made, so an unchanged
answer is a 304, which GitHub does not count. In memory only, every worker
process (and every restart) would pay one counted request per target and
URL before its ticks turn free: 10,000 targets on 4 processes would spend
80,000 requests, hours of a token's budget, just to warm up. Behind the
memory cache sits this one: a miss in memory asks Redis for the entry another
process stored, so a target costs its counted requests once per change of
its data, whichever process ticks it. A hit in memory costs no Redis command.

Entries are keyed by the token's digest (``rate_budget.budget_key``) and the
URL, since two tokens may see different things; they expire after a day.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

TTL_SECONDS = 24 * 3600
MAX_ENTRY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class SharedEntry:
    etag: str
    headers: dict[str, Any]
    data: Any


class SharedCache:
    """ETag entries of one token in Redis; Redis unreachable means a miss, never an error."""

    def __init__(self, redis: Redis, token_key: str) -> None:
        self._redis = redis
        self._prefix = token_key.replace("github-hold", "github-etag") + ":"

    def _key(self, url: str) -> str:
        return self._prefix + hashlib.sha256(url.encode()).hexdigest()[:32]

    def get(self, url: str) -> SharedEntry | None:
        try:
            raw = self._redis.get(self._key(url))
        except RedisError:
            return None
        if not raw:
            return None
        try:
            item = json.loads(raw)
            return SharedEntry(str(item["etag"]), dict(item["headers"]), item["data"])
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, url: str, entry: SharedEntry) -> None:
        # Only the headers a reader uses: the next page's link.
        headers = {k: v for k, v in entry.headers.items() if k.lower() in ("link", "etag")}
        value = json.dumps({"etag": entry.etag, "headers": headers, "data": entry.data})
        if len(value) > MAX_ENTRY_BYTES:
            return
        try:
            self._redis.set(self._key(url), value, ex=TTL_SECONDS)
        except RedisError as exc:
            log.warning("GitHub answer not shared (Redis: %s)", exc)
