"""Canonical JSON: the one text of an event that is stored, compared and hashed.

Two posts of an event are duplicates exactly when these texts are equal, and
the hash chain (log.chain) covers this text, not arrival data, so replaying
the same events into an empty database yields the same hashes.
"""

from __future__ import annotations

import json
from typing import Any

from leviathan_core.events import Event

# One encoder for every call: json.dumps with options builds a new one each time.
CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: one text per value."""
    return CANONICAL.encode(data)


def event_body(event: Event) -> str:
    """The stored form of an event; two posts are duplicates iff these are equal."""
    return canonical_json(event.wire())
