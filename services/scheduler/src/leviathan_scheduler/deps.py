"""What a select cycle talks to, passed in explicitly (no module-level clients).

The protocols name only the calls the scheduler makes, so tests hand in small
fakes and production hands in the real adapters built by ``runtime.py``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from redis import Redis

from leviathan_adapters.forge.base import Forge
from leviathan_core.backlog import Backlog, BacklogError, parse_backlog
from leviathan_core.events import Event
from leviathan_core.runs import RunInspector
from leviathan_core.state import AttemptSummary, TargetState
from leviathan_scheduler.console import emit


class ControlPlane(Protocol):
    def post_event(self, event: Event) -> Any: ...

    def target_state(self, target_id: str, day: date | None = None) -> TargetState: ...

    def get_attempt(self, attempt_id: str) -> dict[str, Any]: ...

    def list_attempts(
        self, target_id: str | None = None, limit: int = 50
    ) -> list[AttemptSummary]: ...

    def list_failures(
        self, target_id: str | None = None, limit: int = 50
    ) -> list[AttemptSummary]: ...

    def reset_breaker(self, target_id: str, reason: str, actor: str) -> None: ...


class BacklogSnapshotLike(Protocol):
    @property
    def sha(self) -> str: ...

    @property
    def data(self) -> bytes: ...


class BacklogReader(Protocol):
    def read(self) -> BacklogSnapshotLike: ...


class TaskSender(Protocol):
    """``Celery.send_task`` as the cycle uses it: by name, to a named queue."""

    def __call__(self, name: str, *, args: list[Any], queue: str) -> Any: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class ParsedBacklogs:
    """Parse a backlog only when its blob sha changed (a 10,000-task file is not free)."""

    def __init__(self) -> None:
        self._sha: str | None = None
        self._parsed: Backlog | BacklogError | None = None

    def parse(self, sha: str, data: bytes, source: str) -> Backlog | BacklogError:
        if self._sha != sha or self._parsed is None:
            try:
                self._parsed = parse_backlog(data, source)
            except BacklogError as exc:
                self._parsed = exc
            self._sha = sha
        return self._parsed


class RecordedOnce:
    """Ids of the events this process already handed to the control plane.

    Alarms (``backlog.invalid``, ``breaker.opened``) hold while their cause
    does, so every tick would build them again with a new ``occurred_at``;
    remembering their ids lets a tick skip the post instead of drawing a 409.
    Bounded: the oldest ids are forgotten (at worst, one more post).
    """

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)


@dataclass
class CycleDeps:
    """Everything one target's cycle reads or writes."""

    redis: Redis
    control_plane: ControlPlane
    forge: Forge
    backlog: BacklogReader
    runs: RunInspector | None  # where Job (or process) truth is read; None: no credentials
    send_task: TaskSender | None
    clock: Callable[[], datetime] = utc_now
    out: Callable[[Iterable[str]], None] = emit
    parsed: ParsedBacklogs = field(default_factory=ParsedBacklogs)
    recorded: RecordedOnce = field(default_factory=RecordedOnce)
