"""Canonical JSON and the per-target hash chain (pure functions).

The chain hashes the canonical body, not arrival data, so replaying the same
events into an empty database yields the same hashes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from leviathan_shared.events import Event

GENESIS_HASH = "0" * 64


# One encoder for every call: json.dumps with options builds a new one each time.
CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: one text per value."""
    return CANONICAL.encode(data)


def event_body(event: Event) -> str:
    """The stored form of an event; two posts are duplicates iff these are equal."""
    return canonical_json(event.wire())


def chain_hash(prev_hash: str, sequence: int, body: str) -> str:
    """Hash of one link: the previous hash, this event's sequence and its body."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(str(sequence).encode("ascii"))
    digest.update(b"\n")
    digest.update(body.encode("utf-8"))
    return digest.hexdigest()
