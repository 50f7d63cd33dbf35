"""Concurrent state reads leave as few requests as possible, and never stale."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from leviathan_adapters.state_reads import StateReads
from leviathan_core.state import TargetState


class SlowPlane:
    """A fetch that blocks until released, recording what each request asked."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.gate = threading.Event()
        self.version = 0
        self.fail = False

    def fetch(self, ids: Sequence[str], day: date | None) -> dict[str, TargetState]:
        self.asked.append(list(ids))
        self.gate.wait(5)
        if self.fail:
            raise RuntimeError("control plane away")
        return {t: TargetState(target_id=t, consecutive_failures=self.version) for t in ids}


def test_a_lone_read_is_one_request_at_once() -> None:
    plane = SlowPlane()
    plane.gate.set()
    reads = StateReads(plane.fetch)
    assert reads.read("a").target_id == "a"
    assert plane.asked == [["a"]]


def test_reads_arriving_during_a_request_leave_together_in_the_next() -> None:
    plane = SlowPlane()
    reads = StateReads(plane.fetch, max_batch=100)
    with ThreadPoolExecutor(40) as pool:
        first = pool.submit(reads.read, "t0")
        while not plane.asked:
            threading.Event().wait(0.001)
        rest = [pool.submit(reads.read, f"t{n}") for n in range(1, 40)]
        while len(reads._queue) < 39:  # every later read waits behind the first request
            threading.Event().wait(0.001)
        plane.gate.set()
        answers = [first.result(5), *(f.result(5) for f in rest)]
    assert [a.target_id for a in answers] == [f"t{n}" for n in range(40)]
    assert plane.asked[0] == ["t0"]
    assert sorted(t for batch in plane.asked[1:] for t in batch) == sorted(
        f"t{n}" for n in range(1, 40)
    )
    assert len(plane.asked) == 2  # 40 reads, two requests
    assert reads.stats.requests == 2 and reads.stats.states == 40


def test_a_read_never_gets_an_answer_older_than_itself() -> None:
    plane = SlowPlane()
    reads = StateReads(plane.fetch)
    with ThreadPoolExecutor(2) as pool:
        early = pool.submit(reads.read, "a")
        while not plane.asked:
            threading.Event().wait(0.001)
        plane.version = 1  # a failure lands while the first request is out
        late = pool.submit(reads.read, "a")
        while not reads._queue:
            threading.Event().wait(0.001)
        plane.gate.set()
        assert late.result(5).consecutive_failures == 1
        early.result(5)
    assert plane.asked == [["a"], ["a"]]


def test_batches_hold_at_most_max_batch() -> None:
    plane = SlowPlane()
    reads = StateReads(plane.fetch, max_batch=5)
    with ThreadPoolExecutor(13) as pool:
        first = pool.submit(reads.read, "x")
        while not plane.asked:
            threading.Event().wait(0.001)
        rest = [pool.submit(reads.read, f"t{n}") for n in range(12)]
        while len(reads._queue) < 12:
            threading.Event().wait(0.001)
        plane.gate.set()
        first.result(5)
        assert {f.result(5).target_id for f in rest} == {f"t{n}" for n in range(12)}
    assert [len(b) for b in plane.asked] == [1, 5, 5, 2]


def test_a_failed_request_fails_every_read_in_it_and_the_next_one_recovers() -> None:
    plane = SlowPlane()
    plane.fail = True
    plane.gate.set()
    reads = StateReads(plane.fetch)
    with pytest.raises(RuntimeError, match="away"):
        reads.read("a")
    plane.fail = False
    assert reads.read("a").target_id == "a"
