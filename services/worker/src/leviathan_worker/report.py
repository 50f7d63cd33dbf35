"""Console lines and control-plane events for one attempt.

The console keeps the seed's wording (runbooks grep ``PR created:``) and
never prints a secret. Events get deterministic ids and the attempt's fence;
when the control plane refuses a progress event, the attempt is asked for:
an earlier run of this same attempt may have stored it (then we go on), or
the attempt was failed or superseded meanwhile (then this worker must stop).
A fence check waits out a control plane that is away for up to
``FENCE_CHECK_SECONDS`` (a restart or a short outage must not fail an
attempt), then fails closed with ``control_plane_unreachable``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

from leviathan_adapters.control_plane_client import (
    ControlPlaneAuthFailed,
    ControlPlaneClient,
    ControlPlaneRejected,
    ControlPlaneUnavailable,
)
from leviathan_adapters.git_auth import scrub
from leviathan_core.events import Event, EventType, FailureReason, new_event
from leviathan_core.state import AttemptSummary
from leviathan_core.usage import TokenUsage
from leviathan_worker.engine_result import AgentReport
from leviathan_worker.failure import AttemptFailure

RULE = "=" * 60
# How long a fence check waits out an unreachable control plane before the
# attempt fails closed (LEVIATHAN_WORKER_FENCE_CHECK_SECONDS overrides it).
FENCE_CHECK_SECONDS = 60.0
FIRST_PAUSE, MAX_PAUSE = 0.5, 8.0  # exponential backoff between fence-check tries
TERMINAL_STATUSES = frozenset({"succeeded", "failed"})


class Console:
    """Operator-facing lines on stdout, flushed at once, secrets scrubbed."""

    def __init__(self, stream: TextIO | None = None, secrets: Sequence[str] = ()) -> None:
        self.stream = stream or sys.stdout
        self.secrets = [s for s in secrets if s]

    def say(self, line: str = "") -> None:
        for secret in self.secrets:
            line = scrub(line, secret)
        self.stream.write(line + "\n")
        self.stream.flush()

    def block(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.say(line)


def banner(title: str) -> list[str]:
    return [RULE, title, RULE]


def attempt_status(client: ControlPlaneClient, attempt_id: str) -> AttemptSummary:
    """The control plane's view of the attempt (raises the client's errors)."""
    data = client.get_attempt(attempt_id)
    return AttemptSummary.model_validate(data.get("attempt", data))


def stale_reason(summary: AttemptSummary, fence: int) -> str | None:
    """Why this worker may no longer act for the attempt, or None while it may."""
    if summary.status in TERMINAL_STATUSES:
        detail = f" ({summary.reason})" if summary.reason else ""
        return f"attempt {summary.attempt_id} is already {summary.status}{detail}"
    if summary.fence is not None and summary.fence != fence:
        return f"fence {fence} is stale: the attempt's current fence is {summary.fence}"
    return None


class Reporter:
    """Builds and posts this attempt's events."""

    def __init__(
        self,
        client: ControlPlaneClient,
        console: Console,
        *,
        target_id: str,
        task_id: str,
        attempt_id: str,
        fence: int,
        clock: Callable[[], float] = time.monotonic,
        patience: float = FENCE_CHECK_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.console = console
        self.target_id = target_id
        self.task_id = task_id
        self.attempt_id = attempt_id
        self.fence = fence
        self.actor = f"worker-{attempt_id}"[:200]
        self.spooled = 0
        self.clock = clock
        self.patience = max(0.0, patience)
        self.sleep = sleep

    def event(self, event_type: EventType, payload: dict[str, Any]) -> Event:
        return new_event(
            event_type,
            target_id=self.target_id,
            actor=self.actor,
            attempt_id=self.attempt_id,
            task_id=self.task_id,
            fence=self.fence,
            payload=payload,
        )

    def _post(self, event: Event) -> None:
        outcome = self.client.post_event(event)
        if outcome.status == "spooled":
            self.spooled += 1
            self.console.say(
                f"! Control plane unreachable: {event.type.value} event spooled, "
                "it will be sent later with the same id"
            )
        else:
            self.console.say(f"✓ Posted {event.type.value} event to control plane")

    def usage(self, report: AgentReport | None) -> None:
        """Post the model tokens the engine spent, whatever becomes of the attempt.

        They count against the target's daily budget (``leviathan_core.budgets``)
        even when the change fails; one report per attempt, so a publish run
        again posts the same event and the control plane counts it once.
        """
        if report is None or report.usage is None or not report.model:
            return
        spent = TokenUsage(
            report.model,
            report.usage.prompt_tokens,
            report.usage.completion_tokens,
            report.usage.total_tokens,
        )
        self.progress(self.event(EventType.ATTEMPT_USAGE, spent.payload()))

    def progress(self, event: Event) -> None:
        """Post ``event``; stop the attempt (fence_stale) when it is no longer ours."""
        try:
            self._post(event)
        except ControlPlaneRejected as exc:
            self.ensure_current(refused=f"the control plane refused {event.type.value}: {exc}")
            self.console.say(f"✓ {event.type.value} already recorded by an earlier run")

    def ensure_current(self, refused: str | None = None) -> None:
        """Fail closed unless the control plane confirms the attempt is still ours.

        While the control plane is unreachable, try again with backoff for up
        to ``patience`` seconds; events spooled meanwhile are delivered first,
        so the attempt the control plane is asked about has all of them.
        """
        deadline = self.clock() + self.patience
        pause = FIRST_PAUSE
        while True:
            try:
                summary = self._confirm()
                break
            except ControlPlaneRejected as exc:
                raise AttemptFailure(
                    FailureReason.FENCE_STALE, refused or f"cannot confirm the attempt: {exc}"
                ) from None
            except ControlPlaneUnavailable as exc:
                left = deadline - self.clock()
                if left <= 0:
                    raise AttemptFailure(
                        FailureReason.CONTROL_PLANE_UNREACHABLE,
                        f"cannot confirm the attempt is still current: the control plane "
                        f"stayed unreachable for {self.patience:g}s ({exc})",
                    ) from None
                if pause == FIRST_PAUSE:
                    self.console.say(
                        "! Control plane unreachable: retrying the fence check "
                        f"for up to {self.patience:g}s"
                    )
                self.sleep(min(pause, left))
                pause = min(pause * 2, MAX_PAUSE)
        reason = stale_reason(summary, self.fence)
        if reason is not None:
            raise AttemptFailure(FailureReason.FENCE_STALE, reason)

    def _confirm(self) -> AttemptSummary:
        """Deliver what is spooled, then read the attempt (raises the client's errors)."""
        if self.spooled:
            self.client.flush_spool()
            self.spooled = 0
        return attempt_status(self.client, self.attempt_id)

    def failed(self, failure: AttemptFailure) -> None:
        """Post attempt.failed; a refusal is printed, never raised (we stop anyway)."""
        try:
            self._post(self.event(EventType.ATTEMPT_FAILED, failure.payload()))
        except ControlPlaneRejected as exc:
            self.console.say(f"! The control plane refused attempt.failed: {exc}")
        except ControlPlaneUnavailable as exc:  # no spool configured
            self.console.say(f"! Could not post attempt.failed: {exc}")

    def flush(self, seconds: float, pause: float = 1.0) -> int:
        """Try to deliver spooled events for up to ``seconds``; returns how many remain."""
        if not self.spooled:
            return 0
        deadline = self.clock() + seconds
        while True:
            try:
                self.client.flush_spool()
                self.console.say("✓ Spooled events delivered to control plane")
                self.spooled = 0
                return 0
            except ControlPlaneAuthFailed as exc:  # waiting will not fix a token
                self.console.say(
                    f"! {self.spooled} event(s) kept spooled at {self.client.spool_path}: the "
                    f"control plane refused the token ({exc.status}); they are sent once "
                    "LEVIATHAN_CONTROL_PLANE_TOKEN is right"
                )
                return self.spooled
            except ControlPlaneUnavailable:
                if self.clock() >= deadline:
                    self.console.say(
                        f"! {self.spooled} event(s) still spooled at {self.client.spool_path}; "
                        "they are sent first by the next post from this spool"
                    )
                    return self.spooled
                time.sleep(pause)
