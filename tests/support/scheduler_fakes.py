"""Small in-memory stand-ins for what a select cycle talks to (unit tests only).

Each keeps the contract of the real adapter that matters to the scheduler:
errors are the adapter's own exception types, and the control plane's
answers are those of the real one (held to it by
tests/integration/test_control_plane_contract.py): events idempotent by id,
an attempt's late steps taken and anything else after its end refused, the
state projected per target from the events accepted, tokens added up per
target and UTC day.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fakeredis

from leviathan_adapters.backlog_source import BacklogSnapshot, BacklogUnavailable
from leviathan_adapters.control_plane_client import (
    ControlPlaneRejected,
    ControlPlaneUnavailable,
    PostOutcome,
)
from leviathan_adapters.forge.base import ForgeUnavailable, PullRequestInfo
from leviathan_core.events import ATTEMPT_TYPES, CODE_PATTERN, Event, EventType, new_event
from leviathan_core.messages import DispatchMessage
from leviathan_core.runs import ExecutorUnavailable, RunState, RunStatus
from leviathan_core.state import RUNNING_STATUSES, AttemptSummary, OpenPullRequest, TargetState
from leviathan_core.usage import usage_day, usage_of, usage_problems
from leviathan_scheduler.deps import CycleDeps

# The projection rules of the control plane (its projection module), kept by
# tests/integration/test_control_plane_contract.py, which runs the same
# scenarios against this fake and the real control plane.
T0 = datetime.min.replace(tzinfo=UTC)

STATUS = {
    EventType.ATTEMPT_CREATED: "created",
    EventType.ATTEMPT_DISPATCHED: "dispatched",
    EventType.ATTEMPT_STARTED: "running",
    EventType.ATTEMPT_SUCCEEDED: "succeeded",
    EventType.ATTEMPT_FAILED: "failed",
}
RANK = {"created": 0, "dispatched": 1, "running": 2, "succeeded": 3, "failed": 3}
ENDED = frozenset({"succeeded", "failed"})
# Steps before an attempt's end that may be told after it: logged, changing nothing.
# Usage is one too: tokens spent before the end count whenever they are told.
LATE_TYPES = frozenset(
    {
        EventType.ATTEMPT_CREATED,
        EventType.ATTEMPT_DISPATCHED,
        EventType.ATTEMPT_STARTED,
        EventType.ATTEMPT_USAGE,
    }
)
MAX_INT32 = 2**31 - 1
CODE = re.compile(CODE_PATTERN)


def _count(value: Any) -> int | None:
    """A positive 32-bit integer (JSON's 7.0 counts as 7), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if 1 <= value <= MAX_INT32 else None


def _unreadable(event: Event) -> bool:
    """Whether the payload fields the projection reads are of the wrong type (a 422)."""
    p = event.payload
    if event.type is EventType.PR_CREATED:
        strings = all(isinstance(p[k], str) and p[k] for k in ("pr_url", "branch"))
        return _count(p["pr_number"]) is None or not strings
    if event.type is EventType.PR_CLOSED:
        return _count(p.get("pr_number")) is None
    if event.type is EventType.ATTEMPT_FAILED:
        reason_ok = isinstance(p["reason"], str) and CODE.fullmatch(p["reason"]) is not None
        return not (reason_ok and isinstance(p["message"], str))
    if event.type is EventType.ATTEMPT_CREATED and "attempt_number" in p:
        return _count(p["attempt_number"]) is None
    if event.type is EventType.ATTEMPT_USAGE:
        return bool(usage_problems(p))
    return False


@dataclass
class _Target:
    sequence: int = 0
    failures: int = 0
    paused: bool = False
    pause_reason: str | None = None
    tasks: dict[str, int] = field(default_factory=dict)
    tokens: dict[date, int] = field(default_factory=dict)  # UTC day: tokens, all models


@dataclass
class _Pull:
    pr: OpenPullRequest
    is_open: bool = True


class FakeControlPlane:
    """The control plane's log and projections in memory, behind ControlPlaneClient's methods."""

    def __init__(self, target_id: str = "radix") -> None:
        self.target_id = target_id
        self.down = False
        self.events: list[Event] = []
        self.attempts: dict[str, AttemptSummary] = {}
        self._stored: dict[str, tuple[str, int]] = {}  # event id: (canonical body, sequence)
        self._targets: dict[str, _Target] = {}
        self._pulls: dict[tuple[str, int], _Pull] = {}

    @property
    def failures(self) -> int:
        """Consecutive failures of the default target."""
        return self._target(self.target_id).failures

    def of_type(self, kind: EventType) -> list[Event]:
        return [e for e in self.events if e.type is kind]

    def _reachable(self) -> None:
        if self.down:
            raise ControlPlaneUnavailable("connection refused")

    def _target(self, target_id: str) -> _Target:
        return self._targets.setdefault(target_id, _Target())

    def post_event(self, event: Event) -> PostOutcome:
        self._reachable()
        if _unreadable(event):
            raise ControlPlaneRejected(422, f"{event.type.value}: payload fields of a wrong type")
        body = json.dumps(event.wire(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        stored = self._stored.get(event.event_id)
        if stored is not None:
            if stored[0] != body:
                raise ControlPlaneRejected(409, f"event_id {event.event_id} has other content")
            return PostOutcome(event_id=event.event_id, status="duplicate")
        self._refuse_if_conflicting(event)
        target = self._target(event.target_id)
        target.sequence += 1
        self._stored[event.event_id] = (body, target.sequence)
        self.events.append(event)
        self._project(target, event)
        return PostOutcome(event_id=event.event_id, status="created")

    def _refuse_if_conflicting(self, event: Event) -> None:
        known = self.attempts.get(event.attempt_id or "")
        if known is None or event.type not in ATTEMPT_TYPES:
            return
        if known.target_id != event.target_id:
            raise ControlPlaneRejected(409, f"attempt {known.attempt_id} is another target's")
        if known.status in ENDED and event.type not in LATE_TYPES:
            raise ControlPlaneRejected(409, f"attempt {known.attempt_id} is already {known.status}")
        if event.fence is not None and known.fence is not None and event.fence < known.fence:
            raise ControlPlaneRejected(409, f"stale fence {event.fence} (current {known.fence})")

    def _project(self, target: _Target, event: Event) -> None:
        if event.type is EventType.ATTEMPT_USAGE:
            day = usage_day(event.occurred_at)
            target.tokens[day] = target.tokens.get(day, 0) + usage_of(event.payload).spent
        elif event.type in ATTEMPT_TYPES and event.attempt_id is not None:
            self._project_attempt(target, event)
        if event.type is EventType.PR_CREATED:
            number = int(event.payload["pr_number"])
            attempt = self.attempts[event.attempt_id or ""]
            pr = OpenPullRequest(
                pr_number=number,
                pr_url=str(event.payload["pr_url"]),
                branch=str(event.payload["branch"]),
                attempt_id=event.attempt_id,
                task_id=event.task_id or attempt.task_id,
            )
            self._pulls[(event.target_id, number)] = _Pull(pr)
        elif event.type is EventType.PR_CLOSED:
            pull = self._pulls.get((event.target_id, int(event.payload["pr_number"])))
            if pull is not None:
                pull.is_open = False
        elif event.type is EventType.BREAKER_RESET:
            target.failures = 0
        elif event.type is EventType.TARGET_PAUSED:
            reason = event.payload.get("reason")
            target.paused, target.pause_reason = True, None if reason is None else str(reason)
        elif event.type is EventType.TARGET_RESUMED:
            target.paused, target.pause_reason = False, None

    def _project_attempt(self, target: _Target, event: Event) -> None:
        assert event.attempt_id is not None
        attempt = self.attempts.get(event.attempt_id)
        if attempt is None:
            attempt = AttemptSummary(
                attempt_id=event.attempt_id,
                target_id=event.target_id,
                status="created",
                created_at=event.occurred_at,
                updated_at=event.occurred_at,
            )
        elif attempt.status in ENDED:
            return  # a late step: in the log and the timeline, the ending stands
        change: dict[str, Any] = {"updated_at": max(attempt.updated_at or T0, event.occurred_at)}
        if event.fence is not None:
            change["fence"] = max(attempt.fence or 0, event.fence)
        if event.task_id and attempt.task_id is None:
            change["task_id"] = event.task_id
            target.tasks[event.task_id] = target.tasks.get(event.task_id, 0) + 1
        payload = event.payload
        if event.type is EventType.ATTEMPT_CREATED:
            change["created_at"] = min(attempt.created_at or event.occurred_at, event.occurred_at)
            if "attempt_number" in payload:
                change["attempt_number"] = _count(payload["attempt_number"])
        status = STATUS.get(event.type)
        if status is not None and RANK[status] > RANK[attempt.status]:
            change["status"] = status
        if event.type is EventType.ATTEMPT_FAILED:
            change["reason"], change["message"] = str(payload["reason"]), str(payload["message"])
            target.failures += 1
        elif event.type is EventType.ATTEMPT_SUCCEEDED:
            target.failures = 0
        if event.type in (EventType.PR_CREATED, EventType.ATTEMPT_SUCCEEDED):
            change |= {
                k: payload[k]
                for k in ("branch", "commit", "pr_url")
                if isinstance(payload.get(k), str)
            }
            if _count(payload.get("pr_number")) is not None:
                change["pr_number"] = _count(payload["pr_number"])
        self.attempts[event.attempt_id] = attempt.model_copy(update=change)

    def _of(self, target_id: str | None) -> list[AttemptSummary]:
        return [a for a in self.attempts.values() if target_id in (None, a.target_id)]

    def target_state(self, target_id: str, day: date | None = None) -> TargetState:
        self._reachable()
        day = day or datetime.now(UTC).date()
        if target_id not in self._targets:
            return TargetState(target_id=target_id, usage_day=day)
        target = self._targets[target_id]
        attempts = self._of(target_id)
        running = [a for a in attempts if a.status in RUNNING_STATUSES]
        pulls = [p.pr for (t, _), p in self._pulls.items() if t == target_id and p.is_open]
        return TargetState(
            target_id=target_id,
            attempts_per_task=dict(target.tasks),
            running_attempts=sorted(running, key=lambda a: (a.created_at or T0, a.attempt_id)),
            consecutive_failures=target.failures,
            open_prs=sorted(pulls, key=lambda p: p.pr_number),
            paused=target.paused,
            pause_reason=target.pause_reason,
            last_sequence=target.sequence,
            max_fence=max((a.fence or 0 for a in attempts), default=0),
            usage_day=day,
            tokens_today=target.tokens.get(day, 0),
        )

    def list_attempts(self, target_id: str | None = None, limit: int = 50) -> list[AttemptSummary]:
        """Newest created first (ties: the greater id first), as the control plane orders them."""
        self._reachable()
        found = sorted(self._of(target_id), key=lambda a: (a.created_at or T0, a.attempt_id))
        return found[::-1][:limit]

    def list_failures(self, target_id: str | None = None, limit: int = 50) -> list[AttemptSummary]:
        """Failed attempts, newest ending first."""
        self._reachable()
        failed = [a for a in self._of(target_id) if a.status == "failed"]
        failed.sort(key=lambda a: (a.updated_at or T0, a.attempt_id), reverse=True)
        return failed[:limit]

    def get_attempt(self, attempt_id: str) -> dict[str, Any]:
        """The attempt and its events (sequence and body; no hashes, which are the log's own)."""
        self._reachable()
        if attempt_id not in self.attempts:
            raise ControlPlaneRejected(404, f"no attempt {attempt_id!r}")
        events = [
            {"sequence": self._stored[e.event_id][1], "event": e.wire(), "unreadable": None}
            for e in self.events
            if e.attempt_id == attempt_id
        ]
        return {"attempt": self.attempts[attempt_id].model_dump(mode="json"), "events": events}

    def reset_breaker(self, target_id: str, reason: str, actor: str) -> None:
        self.post_event(
            new_event(
                EventType.BREAKER_RESET,
                target_id=target_id,
                actor=actor,
                payload={"reason": reason},
            )
        )


class FakeForge:
    def __init__(self) -> None:
        self.down = False
        self.prs: dict[int, PullRequestInfo] = {}
        self.calls = 0

    def open_agent_prs(self) -> list[PullRequestInfo]:
        self.calls += 1
        if self.down:
            raise ForgeUnavailable("secondary rate limit")
        return [p for p in self.prs.values() if p.state == "open"]

    def get_pull_request(self, number: int) -> PullRequestInfo:
        if self.down:
            raise ForgeUnavailable("secondary rate limit")
        return self.prs[number]

    def create_pull_request(self, *, branch: str, base: str, title: str, body: str) -> Any:
        raise NotImplementedError

    def pull_request_files(self, number: int) -> list[str]:
        raise NotImplementedError

    def delete_branch(self, branch: str) -> bool:
        raise NotImplementedError


class FakeBacklog:
    def __init__(self, text: str) -> None:
        self.text = text
        self.down = False

    def read(self) -> BacklogSnapshot:
        if self.down:
            raise BacklogUnavailable("git fetch failed: could not resolve host")
        data = self.text.encode()
        return BacklogSnapshot(hashlib.sha1(data).hexdigest(), data, True)


class FakeExecutor:
    def __init__(self) -> None:
        self.runs: dict[str, RunState] = {}
        self.deleted: list[str] = []
        self.down = False

    def start(self, message: DispatchMessage) -> bool:
        new = message.attempt_id not in self.runs
        self.runs.setdefault(message.attempt_id, "running")
        return new

    def status(self, attempt_id: str) -> RunStatus:
        if self.down:
            raise ExecutorUnavailable("kubernetes API unreachable")
        return RunStatus(attempt_id=attempt_id, state=self.runs.get(attempt_id, "missing"))

    def delete(self, attempt_id: str) -> None:
        self.deleted.append(attempt_id)
        self.runs.pop(attempt_id, None)


@dataclass
class Sent:
    calls: list[tuple[str, list[Any], str]] = field(default_factory=list)
    fail: Exception | None = None

    def __call__(self, name: str, *, args: list[Any], queue: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append((name, args, queue))


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, 12, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    """One target's fakes wired into ``CycleDeps``."""

    redis: fakeredis.FakeRedis
    control_plane: FakeControlPlane
    forge: FakeForge
    backlog: FakeBacklog
    executor: FakeExecutor
    sent: Sent
    clock: Clock
    printed: list[str]
    deps: CycleDeps


def make_world(backlog_text: str, redis: Any | None = None) -> World:
    client = redis if redis is not None else fakeredis.FakeRedis()
    cp, forge, backlog = FakeControlPlane(), FakeForge(), FakeBacklog(backlog_text)
    executor, sent, clock = FakeExecutor(), Sent(), Clock()
    printed: list[str] = []
    deps = CycleDeps(
        redis=client,
        control_plane=cp,
        forge=forge,
        backlog=backlog,
        runs=executor,
        send_task=sent,
        clock=clock,
        out=printed.extend,
    )
    return World(client, cp, forge, backlog, executor, sent, clock, printed, deps)
