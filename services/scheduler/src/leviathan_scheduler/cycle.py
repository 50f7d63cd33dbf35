"""One select cycle for one target (docs/scheduler.md, "How a tick runs").

lock -> reconcile -> gather facts -> decide() -> reserve slots and a fence ->
post attempt.created -> send the dispatch message -> post scheduler.cycle.

The guardrail that no interleaving can break is the atomic reservation; the
cycle lock only spares the systems duplicate work. Every exit path records
why (the ``scheduler.cycle`` event and the console block), and every
unreadable fact ends the cycle without a dispatch.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from leviathan_adapters import slots
from leviathan_adapters.control_plane_client import ControlPlaneRejected, ControlPlaneUnavailable
from leviathan_core import caps
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import QUEUE_DISPATCH, TASK_START_ATTEMPT
from leviathan_core.events import Event, FailureReason
from leviathan_core.guardrails import CycleReason, Decision, Facts, decide, unavailable_reason
from leviathan_core.job_naming import job_name
from leviathan_core.messages import DispatchMessage
from leviathan_scheduler import dashboard, records
from leviathan_scheduler.console import scheduler_block
from leviathan_scheduler.deps import CycleDeps
from leviathan_scheduler.facts import Gathered, gather
from leviathan_scheduler.reconciler import reconcile, slot_lease_seconds

log = logging.getLogger(__name__)

CYCLE_LOCK_SECONDS = 120
LOCKED = "cycle_locked"
Status = Literal["dispatched", "skipped", "locked", "dispatch_failed"]
FULL_REASON = {"running": CycleReason.MAX_RUNNING_ATTEMPTS, "pr": CycleReason.MAX_OPEN_PRS}


@dataclass(frozen=True)
class CycleOutcome:
    target_id: str
    status: Status
    reason: str | None = None
    attempt_id: str | None = None
    job_name: str | None = None
    fence: int | None = None
    decision: Decision | None = None
    message: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "target_id": self.target_id,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "attempt_id": self.attempt_id,
            "job_name": self.job_name,
            "fence": self.fence,
        }


@dataclass(frozen=True)
class Dispatched:
    """What the dispatch step produced, for the record and the console."""

    attempt_id: str
    fence: int
    sent: bool


def new_attempt_id(task_id: str) -> str:
    """``attempt-<task>-<8 hex>``, the seed's form."""
    return f"attempt-{task_id}-{secrets.token_hex(4)}"


def skip_instead(decision: Decision, reason: str, message: str) -> Decision:
    """The decision turned into a skip because a later step refused it."""
    return dataclasses.replace(
        decision, action="skip", reason=reason, task=None, attempt_number=None, messages=(message,)
    )


def _post(deps: CycleDeps, event: Event) -> None:
    """Best-effort post of a record; the client spools when the control plane is away."""
    try:
        deps.control_plane.post_event(event)
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        log.warning("could not record %s: %s", event.type.value, exc)


def _post_once(deps: CycleDeps, event: Event) -> None:
    """Post an alarm whose id names its cause (a blob, a breaker episode) once per process.

    A 409 means the id is stored already with another ``occurred_at`` (an
    earlier process or tick posted it): the alarm is on record, nothing to warn.
    """
    if event.event_id in deps.recorded:
        return
    try:
        deps.control_plane.post_event(event)
    except ControlPlaneRejected as exc:
        if exc.status != 409:
            log.warning("could not record %s: %s", event.type.value, exc)
            return
        log.info("%s already recorded: %s", event.event_id, exc)
    except ControlPlaneUnavailable as exc:
        log.warning("could not record %s: %s", event.type.value, exc)
        return
    deps.recorded.add(event.event_id)


def run_cycle(config: AutonomyConfig, deps: CycleDeps) -> CycleOutcome:
    """Run one cycle under the target's cycle lock; a held lock is a logged no-op."""
    target = config.target_id
    try:
        token = slots.acquire_cycle_lock(
            deps.redis, target, CYCLE_LOCK_SECONDS, slots.this_process("select cycle")
        )
    except RedisError as exc:
        facts = Facts(unavailable=("redis",), unavailable_messages=(f"Redis: {exc}",))
        return _finish(config, deps, Gathered(facts, None), decide(config, None, facts))
    if token is None:
        return _locked(config, deps)
    try:
        report = reconcile(config, deps)
        if report.changed:
            log.info("target %s: reconciled %s", target, report)
        gathered = gather(config, deps, None if report.changed else report.state)
        decision = decide(config, gathered.backlog, gathered.facts)
        for alarm in records.alarms(config, gathered, decision, deps.clock()):
            _post_once(deps, alarm)
        if decision.action != "dispatch":
            return _finish(config, deps, gathered, decision)
        return _dispatch(config, deps, gathered, decision)
    finally:
        try:
            slots.release_cycle_lock(deps.redis, target, token)
        except RedisError as exc:  # the lock expires by itself
            log.warning("target %s: could not release the cycle lock: %s", target, exc)


def _locked(config: AutonomyConfig, deps: CycleDeps) -> CycleOutcome:
    """Say why this tick does nothing: who holds the lock and for how long."""
    target = config.target_id
    try:
        holder = slots.cycle_lock_holder(deps.redis, target)
    except RedisError as exc:
        message = f"the holder could not be read: {exc}"
    else:
        message = holder.describe() if holder else "released while this tick looked"
    log.info(
        "target %s: another cycle holds the lock (%s); this tick does nothing", target, message
    )
    deps.out([f"✗ No task selected: {LOCKED} ({target})", f"  {message}"])
    return CycleOutcome(target, "locked", reason=LOCKED, message=message)


def _dispatch(
    config: AutonomyConfig, deps: CycleDeps, gathered: Gathered, decision: Decision
) -> CycleOutcome:
    """Reserve, announce, send. Each refusal turns the decision into a recorded skip."""
    task, number = decision.task, decision.attempt_number
    assert task is not None and task.id is not None and number is not None
    target = config.target_id
    attempt_id = new_attempt_id(task.id)
    state = gathered.state
    running = state.running_attempts if state else []
    # Above every fence the control plane has seen, so a Redis that restarted
    # empty cannot hand out an earlier attempt's fence again.
    floor = max([state.max_fence if state else 0, *(a.fence or 0 for a in running)])
    limits = caps.reservation_limits(config)
    try:
        outcome = slots.try_reserve(
            deps.redis,
            target,
            attempt_id,
            max_running=limits.max_running,
            max_prs=limits.max_prs,
            lease_seconds=slot_lease_seconds(config),
            fence_floor=floor,
        )
    except RedisError as exc:
        skip = skip_instead(decision, unavailable_reason("redis"), f"Redis: {exc}")
        return _finish(config, deps, gathered, skip)
    if isinstance(outcome, slots.Refusal):
        note = f"slots held: running {outcome.running}, PRs {outcome.prs}"
        return _finish(
            config, deps, gathered, skip_instead(decision, FULL_REASON[outcome.full], note)
        )
    return _announce_and_send(config, deps, gathered, decision, attempt_id, outcome.fence)


def _announce_and_send(
    config: AutonomyConfig,
    deps: CycleDeps,
    gathered: Gathered,
    decision: Decision,
    attempt_id: str,
    fence: int,
) -> CycleOutcome:
    task, number, target = decision.task, decision.attempt_number, config.target_id
    assert task is not None and task.id is not None and number is not None
    try:
        created = records.attempt_created(config, task, number, attempt_id, fence, deps.clock())
        deps.control_plane.post_event(created)
        message = DispatchMessage(
            target_id=target,
            task_id=task.id,
            attempt_id=attempt_id,
            attempt_number=number,
            fence=fence,
            created_event=created.wire(),
        )
        sent = _send(deps, message, created)
    except (ControlPlaneUnavailable, ControlPlaneRejected) as exc:
        _release(deps, target, attempt_id)
        skip = skip_instead(decision, unavailable_reason("control_plane"), str(exc))
        return _finish(config, deps, gathered, skip)
    except BaseException:
        # Nothing was sent: the reservation must not outlive this failed tick.
        _release(deps, target, attempt_id)
        raise
    if not sent:
        _release(deps, target, attempt_id)
    return _finish(config, deps, gathered, decision, Dispatched(attempt_id, fence, sent))


def _send(deps: CycleDeps, message: DispatchMessage, created: Event) -> bool:
    """Send the dispatch message by name; a broker failure ends the attempt (dispatch_failed)."""
    try:
        if deps.send_task is None:
            raise OperationalError("no task sender configured")
        deps.send_task(
            TASK_START_ATTEMPT, args=[message.model_dump(mode="json")], queue=QUEUE_DISPATCH
        )
    except (OperationalError, RedisError, OSError) as exc:
        log.error("attempt %s: dispatch message not sent: %s", message.attempt_id, exc)
        _post(deps, records.dispatch_failed(created, str(exc), deps.clock()))
        return False
    return True


def _release(deps: CycleDeps, target: str, attempt_id: str) -> None:
    try:
        slots.release_running(deps.redis, target, attempt_id)
        slots.release_pr(deps.redis, target, attempt_id)
    except RedisError as exc:  # the leases expire by themselves
        log.warning("could not release the slots of %s: %s", attempt_id, exc)


def _finish(
    config: AutonomyConfig,
    deps: CycleDeps,
    gathered: Gathered,
    decision: Decision,
    dispatched: Dispatched | None = None,
) -> CycleOutcome:
    """Record the decision (scheduler.cycle), print the block, and say what happened."""
    target = config.target_id
    attempt_id = dispatched.attempt_id if dispatched else None
    fence = dispatched.fence if dispatched else None
    sent = dispatched is not None and dispatched.sent
    record = records.cycle_record(
        config,
        gathered,
        decision,
        deps.clock(),
        attempt_id=attempt_id,
        fence=fence,
        dispatched=sent,
    )
    _post(deps, record)
    lines = scheduler_block(
        config, gathered.facts, decision, backlog_size=gathered.backlog_size, attempt_id=attempt_id
    )
    name = job_name(attempt_id) if attempt_id and sent else None
    if name:
        lines.append(f"✓ Worker job submitted: {name}")
    elif attempt_id:
        lines.append(f"✗ Dispatch failed for {attempt_id}: {FailureReason.DISPATCH_FAILED.value}")
    deps.out(lines)
    dashboard.refresh(config, deps, gathered, decision, decision.task_id if sent else None)
    if dispatched is None:
        return CycleOutcome(target, "skipped", decision.reason, decision=decision)
    if not sent:
        reason = FailureReason.DISPATCH_FAILED.value
        return CycleOutcome(target, "dispatch_failed", reason, attempt_id, None, fence, decision)
    return CycleOutcome(target, "dispatched", None, attempt_id, name, fence, decision)
