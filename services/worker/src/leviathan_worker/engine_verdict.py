"""The publisher's reading of how the engine phase ended: go on, or fail the attempt.

The outcome may come from ``result.json`` (a Job), which the engine could
have written itself; so with a ``verify_command`` configured, the publisher
goes on only when the outcome carries a passing run of exactly that command.
The gate's output and the engine's summary reach the PR body only after the
worker's secrets are scrubbed from them.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence

from pydantic import SecretStr

from leviathan_adapters.git_auth import scrub
from leviathan_core.events import FailureReason
from leviathan_worker.engine_result import AgentReport, EngineOutcome, GateResult
from leviathan_worker.failure import AttemptFailure

Secret = SecretStr | str | None


def _clean(text: str, secrets: Sequence[Secret]) -> str:
    for secret in secrets:
        text = scrub(text, secret)
    return text


def accept(
    outcome: EngineOutcome, verify_command: Sequence[str] | None, secrets: Sequence[Secret]
) -> tuple[GateResult | None, AgentReport | None]:
    """The gate's result and the engine's report for the PR, secrets scrubbed; raises
    AttemptFailure (``engine_failed`` or ``checks_failed``) when the attempt must end."""
    if not outcome.ok:
        raise AttemptFailure(outcome.reason, _clean(outcome.message, secrets))
    gate = outcome.gate if verify_command else None
    if verify_command and (
        gate is None or not gate.passed or gate.command != tuple(verify_command)
    ):
        raise AttemptFailure(
            FailureReason.CHECKS_FAILED,
            "the engine phase reported no passing run of the verify command "
            f"`{shlex.join(verify_command)}`",
        )
    if gate is not None:
        gate = dataclasses.replace(
            gate, output=_clean(gate.output, secrets), status=_clean(gate.status, secrets)
        )
    report = outcome.report
    if report is not None:
        report = dataclasses.replace(report, summary=_clean(report.summary, secrets))
    return gate, report
