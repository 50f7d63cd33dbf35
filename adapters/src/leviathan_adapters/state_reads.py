"""Concurrent reads of target states, coalesced into batch requests.

A threads-pool scheduler worker runs dozens of cycles at once, and each one
asks the control plane for its target's state. ``StateReads`` turns those
asks into ``GET /v1/targets/states`` requests by group commit: a read that
finds no request in flight sends one at once (so a lone cycle waits for
nothing); reads that arrive while one is in flight queue up and leave
together in the next request. Every answer comes from a request sent after
the read was asked, so batching never serves a stale state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from leviathan_core.state import TargetState

Fetch = Callable[[Sequence[str], "date | None"], dict[str, TargetState]]


@dataclass
class _Ask:
    target_id: str
    day: date | None
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to send the next request rather than with an answer
    state: TargetState | None = None
    error: BaseException | None = None


@dataclass
class BatchStats:
    """Requests sent and states they carried (the benchmark reads these)."""

    requests: int = 0
    states: int = 0


class StateReads:
    """One per process and control plane: ``read`` is safe from many threads."""

    def __init__(self, fetch: Fetch, max_batch: int = 100) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Ask] = []
        self._in_flight = False
        self.stats = BatchStats()

    def read(self, target_id: str, day: date | None = None) -> TargetState:
        """``target_id``'s state from a request sent after this call began."""
        ask = _Ask(target_id, day)
        with self._lock:
            self._queue.append(ask)
            lead = not self._in_flight
            self._in_flight = True
        if not lead:
            ask.done.wait()
            if not ask.lead:
                return _answer(ask)
        self._send_batches(ask)
        return _answer(ask)

    def _send_batches(self, mine: _Ask) -> None:
        """Send requests until this thread's own ask is answered, then hand over."""
        try:
            while not mine.done.is_set() or mine.lead:
                mine.lead = False
                with self._lock:
                    batch = self._take()
                self._serve(batch)
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        """Wake the oldest waiting read to send the next request, or end the flight."""
        with self._lock:
            if not self._queue:
                self._in_flight = False
                return
            successor = self._queue[0]
        successor.lead = True
        successor.done.set()

    def _take(self) -> list[_Ask]:
        """The oldest asks of one day, at most ``max_batch`` of them (caller holds the lock)."""
        day = self._queue[0].day
        batch = [a for a in self._queue if a.day == day][: self._max_batch]
        taken = {id(a) for a in batch}
        self._queue = [a for a in self._queue if id(a) not in taken]
        return batch

    def _serve(self, batch: list[_Ask]) -> None:
        try:
            states = self._fetch([a.target_id for a in batch], batch[0].day)
        except BaseException as exc:  # every waiter learns why: the fact is unknown
            for ask in batch:
                ask.error = exc
                ask.done.set()
            if not isinstance(exc, Exception):
                raise
            return
        with self._lock:
            self.stats.requests += 1
            self.stats.states += len(batch)
        for ask in batch:
            ask.state = states.get(ask.target_id)
            ask.done.set()


def _answer(ask: _Ask) -> TargetState:
    if ask.error is not None:
        raise ask.error
    if ask.state is None:
        raise LookupError(f"no state came back for target {ask.target_id!r}")
    return ask.state
