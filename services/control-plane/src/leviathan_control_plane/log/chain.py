"""The per-target hash chain of the log: computed on append, checked on verify.

Each event's hash covers the previous event's hash, its own sequence and its
canonical body (log.canonical), so an edited body, a removed event or a
reordered pair shows up when the chain is recomputed. The projection extends
the chain as it appends (projections.projection); the verification query
walks it again from the first event (queries.verify). Both use this module so
the two can never disagree on what a link is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def chain_hash(prev_hash: str, sequence: int, body: str) -> str:
    """Hash of one link: the previous hash, this event's sequence and its body."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(str(sequence).encode("ascii"))
    digest.update(b"\n")
    digest.update(body.encode("utf-8"))
    return digest.hexdigest()


def next_link(last_sequence: int, last_hash: str, body: str) -> tuple[int, str]:
    """The sequence and hash of the event appended after ``last_sequence``."""
    sequence = last_sequence + 1
    return sequence, chain_hash(last_hash, sequence, body)


def link_problem(row: Any, expected: int, prev: str) -> str | None:
    """Why a stored link (``sequence``, ``body``, ``prev_hash``, ``hash``) breaks the
    chain at ``expected`` after hash ``prev``; None when it holds."""
    if row.sequence != expected:
        return f"sequence {expected} is missing (found {row.sequence})"
    if row.prev_hash != prev:
        return f"event {row.sequence} does not point at the hash of event {expected - 1}"
    if chain_hash(prev, row.sequence, row.body) != row.hash:
        return f"event {row.sequence} does not match its stored hash"
    return None


@dataclass
class ChainCheck:
    """Walks one target's links in sequence order, from the genesis hash.

    Rows may come in chunks; the walk stops at the first link that breaks.
    """

    prev: str = GENESIS_HASH
    expected: int = 1
    checked: int = 0

    def check(self, row: Any) -> str | None:
        """Check the next link; on success move past it, else say what is wrong."""
        problem = link_problem(row, self.expected, self.prev)
        if problem is None:
            self.prev, self.expected, self.checked = row.hash, self.expected + 1, self.checked + 1
        return problem
