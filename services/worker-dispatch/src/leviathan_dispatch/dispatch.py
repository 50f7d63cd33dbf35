"""What the dispatcher does with one message, apart from Celery and real backends.

The Celery task hands in the raw message, the executor and the event sink;
this module validates, starts the run and says what should happen next
(done, retry later, or reject for good). Nothing here raises for bad input:
every outcome is a value, so the consumer loop cannot crash on a message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from pydantic import ValidationError

from leviathan_adapters.control_plane_client import ControlPlaneRejected
from leviathan_core.config import AutonomyConfig
from leviathan_core.events import ID_PATTERN, Event, EventType, FailureReason, new_event
from leviathan_core.job_naming import job_name
from leviathan_core.messages import DispatchMessage
from leviathan_core.runs import ExecutorRejected, ExecutorUnavailable
from leviathan_dispatch.executors.base import Executor

log = logging.getLogger(__name__)

ACTOR: Final = "dispatcher"
MAX_RETRIES: Final = 5
BACKOFF_BASE_SECONDS: Final = 2.0
BACKOFF_CAP_SECONDS: Final = 60.0
_TARGET_PATTERN: Final = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_TASK_ID_MAX: Final = 200


class EventSink(Protocol):
    """The part of the control-plane client the dispatcher uses."""

    def post_event(self, event: Event) -> object: ...


class InvalidMessage(ValueError):
    """A message that can never be dispatched; ``ids`` holds what could still be read."""

    def __init__(self, text: str, ids: dict[str, str]) -> None:
        super().__init__(text)
        self.ids = ids


@dataclass(frozen=True)
class Outcome:
    """What the task should do: ``done`` (ack), ``retry`` after ``delay``, or ``reject`` (drop)."""

    action: Literal["done", "retry", "reject"]
    status: Literal["started", "duplicate", "retry", "failed", "invalid"]
    detail: str = ""
    job_name: str | None = None
    delay: float = 0.0

    def as_result(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail, "job_name": self.job_name}


def _readable_ids(raw: object) -> dict[str, str]:
    """The target/attempt/task of a broken message, when they are themselves valid."""
    if not isinstance(raw, dict):
        return {}
    checks: dict[str, Callable[[str], bool]] = {
        "target_id": lambda v: re.fullmatch(_TARGET_PATTERN, v) is not None,
        "attempt_id": lambda v: re.fullmatch(ID_PATTERN, v) is not None,
        "task_id": lambda v: 0 < len(v) <= _TASK_ID_MAX,
    }
    return {
        key: value
        for key, valid in checks.items()
        if isinstance(value := raw.get(key), str) and valid(value)
    }


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        parts.append(f"field '{where}': {err['msg']}")
    return "; ".join(parts)


def parse_message(raw: object) -> DispatchMessage:
    """Validate a raw message, including its embedded ``attempt.created`` envelope."""
    ids = _readable_ids(raw)
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        raise InvalidMessage(f"dispatch message must be a JSON object, got {kind}", ids)
    try:
        message = DispatchMessage.model_validate(raw)
        created = Event.model_validate(message.created_event)
    except ValidationError as exc:
        raise InvalidMessage(f"invalid dispatch message: {_describe(exc)}", ids) from None
    expected = {
        "type": EventType.ATTEMPT_CREATED,
        "target_id": message.target_id,
        "attempt_id": message.attempt_id,
        "task_id": message.task_id,
    }
    wrong = [key for key, value in expected.items() if getattr(created, key) != value]
    if wrong:
        fields = ", ".join(wrong)
        raise InvalidMessage(
            f"invalid dispatch message: created_event does not match the message ({fields})", ids
        )
    return message


def retry_delay(retries_done: int) -> float | None:
    """Exponential backoff for an unreachable executor; None once retries are used up."""
    if retries_done >= MAX_RETRIES:
        return None
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**retries_done)


def failed_event(ids: dict[str, str], text: str, fence: int | None = None) -> Event | None:
    """``attempt.failed`` (dispatch_failed) for whatever attempt the message names."""
    if "target_id" not in ids or "attempt_id" not in ids:
        return None
    return new_event(
        EventType.ATTEMPT_FAILED,
        target_id=ids["target_id"],
        attempt_id=ids["attempt_id"],
        task_id=ids.get("task_id"),
        fence=fence,
        actor=ACTOR,
        payload={"reason": FailureReason.DISPATCH_FAILED.value, "message": text[:2000]},
    )


def dispatched_event(message: DispatchMessage, config: AutonomyConfig) -> Event:
    """``attempt.dispatched`` under a deterministic id, so the log holds one per attempt.

    A redelivery posts it again; the control plane answers ``duplicate`` or,
    since ``occurred_at`` differs, 409, and either way keeps the first copy.
    """
    payload: dict[str, Any] = {
        "executor": config.executor,
        "job_name": job_name(message.attempt_id),
        "attempt_number": message.attempt_number,
    }
    if config.executor == "kubernetes":
        payload |= {"namespace": config.worker_namespace, "image": config.worker_image}
    return new_event(
        EventType.ATTEMPT_DISPATCHED,
        target_id=message.target_id,
        attempt_id=message.attempt_id,
        task_id=message.task_id,
        fence=message.fence,
        actor=ACTOR,
        payload=payload,
    )


def post(sink: EventSink | None, event: Event | None) -> None:
    """Post, never raise: the client spools what it cannot send; anything else is logged."""
    if sink is None or event is None:
        return
    try:
        outcome = sink.post_event(event)
    except ControlPlaneRejected as exc:
        # 409: the id is already stored with other content (an earlier delivery
        # posted it) or the fence moved on; either way there is nothing left to
        # record. A late attempt.dispatched for an ended attempt is stored (201),
        # and a refused token keeps it spooled (the client's rules).
        level = logging.INFO if exc.status == 409 else logging.WARNING
        log.log(level, "control plane did not take %s: %s", event.event_id, exc)
        return
    except Exception:  # a reporting failure must not turn into a redelivery loop
        log.exception("could not post %s", event.event_id)
        return
    log.info("posted %s for %s: %s", event.type.value, event.attempt_id, outcome)


@dataclass(frozen=True)
class Dispatch:
    """One valid message with what the caller resolved for it."""

    message: DispatchMessage
    config: AutonomyConfig
    sink: EventSink | None
    retries_done: int = 0
    say: Callable[[str], None] = print

    @property
    def job_name(self) -> str:
        return job_name(self.message.attempt_id)


def start_attempt(job: Dispatch, executor: Executor) -> Outcome:
    """Start the run (a duplicate delivery is success), then record ``attempt.dispatched``."""
    try:
        started = executor.start(job.message)
    except ExecutorRejected as exc:
        return fail(job, f"{job.config.executor} executor refused the run: {exc}")
    except ExecutorUnavailable as exc:
        return unavailable(job, exc, executor)
    post(job.sink, dispatched_event(job.message, job.config))
    if started:
        job.say(f"✓ Worker job submitted: {job.job_name}")
        return Outcome("done", "started", "", job.job_name)
    job.say(f"✓ Worker job already exists: {job.job_name} (duplicate delivery)")
    return Outcome("done", "duplicate", "run already existed", job.job_name)


def unavailable(
    job: Dispatch, exc: ExecutorUnavailable, executor: Executor | None = None
) -> Outcome:
    """Retry later with backoff, or give up and record the failure once retries are spent.

    On giving up, a run that a timed-out request may still have created is
    deleted (best effort), so a failed attempt leaves no worker behind.
    """
    delay = retry_delay(job.retries_done)
    if delay is None:
        if executor is not None:
            try:
                executor.delete(job.message.attempt_id)
            except ExecutorUnavailable as cleanup:
                log.warning("could not clean up %s: %s", job.job_name, cleanup)
        text = f"{job.config.executor} executor unavailable after {MAX_RETRIES} retries: {exc}"
        return fail(job, text)
    log.warning("executor unavailable for %s, retry in %.0fs: %s", job.job_name, delay, exc)
    return Outcome("retry", "retry", str(exc), job.job_name, delay)


def fail(job: Dispatch, text: str) -> Outcome:
    """Record ``attempt.failed`` (dispatch_failed) and finish the message."""
    return record_failure(job.message, job.sink, text, job.say)


def record_failure(
    message: DispatchMessage, sink: EventSink | None, text: str, say: Callable[[str], None]
) -> Outcome:
    """Post ``attempt.failed`` (dispatch_failed) for a valid message; the message is done."""
    name = job_name(message.attempt_id)
    log.error("dispatch of %s failed: %s", message.attempt_id, text)
    ids = {
        "target_id": message.target_id,
        "attempt_id": message.attempt_id,
        "task_id": message.task_id,
    }
    post(sink, failed_event(ids, text, message.fence))
    say(f"✗ Worker job not submitted: {name}: {text}")
    return Outcome("done", "failed", text, name)
