"""Small in-memory stand-ins for what a select cycle talks to (unit tests only).

Each keeps the contract of the real adapter that matters to the scheduler:
errors are the adapter's own exception types, events are idempotent by id
and refused after an attempt's end, and the control plane's state is
projected from the events it accepted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis

from leviathan_scheduler.deps import CycleDeps
from leviathan_shared.backlog_source import BacklogSnapshot, BacklogUnavailable
from leviathan_shared.control_plane_client import (
    ControlPlaneRejected,
    ControlPlaneUnavailable,
    PostOutcome,
)
from leviathan_shared.events import Event, EventType
from leviathan_shared.executors.base import ExecutorUnavailable, RunState, RunStatus
from leviathan_shared.forge.base import ForgeUnavailable, PullRequestInfo
from leviathan_shared.messages import DispatchMessage
from leviathan_shared.state import AttemptSummary, OpenPullRequest, TargetState

STATUS = {
    EventType.ATTEMPT_CREATED: "created",
    EventType.ATTEMPT_DISPATCHED: "dispatched",
    EventType.ATTEMPT_STARTED: "running",
    EventType.ATTEMPT_SUCCEEDED: "succeeded",
    EventType.ATTEMPT_FAILED: "failed",
}


class FakeControlPlane:
    def __init__(self, target_id: str = "radix", breaker_threshold: int = 2) -> None:
        self.target_id = target_id
        self.threshold = breaker_threshold
        self.down = False
        self.events: list[Event] = []
        self.attempts: dict[str, AttemptSummary] = {}
        self.per_task: dict[str, int] = {}
        self.failures = 0
        self.prs: dict[int, OpenPullRequest] = {}

    def of_type(self, kind: EventType) -> list[Event]:
        return [e for e in self.events if e.type is kind]

    def post_event(self, event: Event) -> PostOutcome:
        if self.down:
            raise ControlPlaneUnavailable("connection refused")
        if any(e.event_id == event.event_id for e in self.events):
            return PostOutcome(event_id=event.event_id, status="duplicate")
        known = self.attempts.get(event.attempt_id or "")
        if known is not None and known.status in ("succeeded", "failed") and event.type in STATUS:
            raise ControlPlaneRejected(409, f"attempt {known.attempt_id} is already {known.status}")
        self.events.append(event)
        self._project(event)
        return PostOutcome(event_id=event.event_id, status="created")

    def _project(self, event: Event) -> None:
        status = STATUS.get(event.type)
        if status is not None and event.attempt_id:
            attempt = self.attempts.get(event.attempt_id)
            if attempt is None:
                attempt = AttemptSummary(
                    attempt_id=event.attempt_id,
                    target_id=event.target_id,
                    task_id=event.task_id,
                    status="created",
                    fence=event.fence,
                    created_at=event.occurred_at,
                )
                self.per_task[event.task_id or ""] = self.per_task.get(event.task_id or "", 0) + 1
            update = {"status": status, "updated_at": event.occurred_at}
            self.attempts[event.attempt_id] = attempt.model_copy(update=update)
        if event.type is EventType.ATTEMPT_FAILED:
            self.failures += 1
        elif event.type in (EventType.ATTEMPT_SUCCEEDED, EventType.BREAKER_RESET):
            self.failures = 0
        elif event.type is EventType.PR_CREATED:
            number = int(event.payload["pr_number"])
            self.prs[number] = OpenPullRequest(
                pr_number=number,
                pr_url=event.payload["pr_url"],
                branch=event.payload["branch"],
                attempt_id=event.attempt_id,
                task_id=event.task_id,
            )
        elif event.type is EventType.PR_CLOSED:
            self.prs.pop(int(event.payload["pr_number"]), None)

    def target_state(self, target_id: str) -> TargetState:
        if self.down:
            raise ControlPlaneUnavailable("connection refused")
        return TargetState(
            target_id=target_id,
            attempts_per_task=dict(self.per_task),
            running_attempts=[
                a for a in self.attempts.values() if a.status not in ("succeeded", "failed")
            ],
            consecutive_failures=self.failures,
            breaker_open=self.failures >= self.threshold,
            breaker_threshold=self.threshold,
            open_prs=list(self.prs.values()),
        )

    def list_attempts(self, target_id: str | None = None, limit: int = 50) -> list[AttemptSummary]:
        if self.down:
            raise ControlPlaneUnavailable("connection refused")
        return list(reversed(self.attempts.values()))[:limit]

    def list_failures(self, target_id: str | None = None, limit: int = 50) -> list[AttemptSummary]:
        if self.down:
            raise ControlPlaneUnavailable("connection refused")
        failed = [a for a in self.attempts.values() if a.status == "failed"]
        oldest = datetime.min.replace(tzinfo=UTC)
        failed.sort(key=lambda a: a.updated_at or a.created_at or oldest, reverse=True)
        return failed[:limit]

    def get_attempt(self, attempt_id: str) -> dict[str, Any]:
        if self.down:
            raise ControlPlaneUnavailable("connection refused")
        if attempt_id not in self.attempts:
            raise ControlPlaneRejected(404, f"no attempt {attempt_id!r}")
        return {"attempt": self.attempts[attempt_id].model_dump(mode="json"), "events": []}

    def reset_breaker(self, target_id: str, reason: str, actor: str) -> None:
        from leviathan_shared.events import new_event

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
        executor=executor,
        send_task=sent,
        clock=clock,
        out=printed.extend,
    )
    return World(client, cp, forge, backlog, executor, sent, clock, printed, deps)
