"""The dispatcher's decisions per message: validate, start, retry, fail, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leviathan_adapters.control_plane_client import ControlPlaneRejected
from leviathan_core.config import AutonomyConfig
from leviathan_core.events import Event, EventType
from leviathan_core.job_naming import job_name
from leviathan_core.messages import DispatchMessage
from leviathan_core.runs import ExecutorRejected, ExecutorUnavailable, RunStatus
from leviathan_core.settings import Settings
from leviathan_dispatch.dispatch import (
    MAX_RETRIES,
    Dispatch,
    InvalidMessage,
    failed_event,
    parse_message,
    post,
    retry_delay,
    start_attempt,
)
from leviathan_dispatch.runtime import Runtime
from tests.support.messages import dispatch_message, wire

CONFIG = AutonomyConfig(target_id="radix", target_repo_url="file:///srv/radix.git")


class RecordingSink:
    def __init__(self, error: Exception | None = None) -> None:
        self.events: list[Event] = []
        self.error = error

    def post_event(self, event: Event) -> object:
        self.events.append(event)
        if self.error is not None:
            raise self.error
        return "created"


class ScriptedExecutor:
    """Answers ``start`` from a script: True/False, or an exception to raise."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.answers = list(answers)
        self.started: list[str] = []
        self.deleted: list[str] = []

    def start(self, message: DispatchMessage) -> bool:
        self.started.append(message.attempt_id)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def status(self, attempt_id: str) -> RunStatus:
        return RunStatus(attempt_id=attempt_id, state="missing")

    def delete(self, attempt_id: str) -> None:
        self.deleted.append(attempt_id)


def run(executor: ScriptedExecutor, sink: RecordingSink, retries: int = 0) -> Any:
    said: list[str] = []
    message = dispatch_message()
    job = Dispatch(message, CONFIG, sink, retries, said.append)
    return message, start_attempt(job, executor), said


def test_a_valid_message_parses() -> None:
    message = dispatch_message()
    assert parse_message(wire(message)) == message


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda m: ["not", "a", "dict"], "must be a JSON object, got list"),
        (lambda m: {**m, "fence": -1}, "field 'fence'"),
        (lambda m: {k: v for k, v in m.items() if k != "task_id"}, "field 'task_id'"),
        (lambda m: {**m, "surprise": 1}, "field 'surprise'"),
        (lambda m: {**m, "created_event": {"type": "attempt.created"}}, "field 'event_id'"),
        (lambda m: {**m, "attempt_id": "attempt-other-00000000"}, "(attempt_id)"),
        (lambda m: {**m, "created_event": {**m["created_event"], "type": "attempt.started"}},
         "(type)"),
    ],
)  # fmt: skip
def test_bad_messages_say_what_is_wrong(change: Any, needle: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_message(change(wire(dispatch_message())))
    assert needle in str(caught.value)


def test_a_bad_message_still_names_its_valid_ids() -> None:
    raw = {**wire(dispatch_message()), "fence": "many"}
    with pytest.raises(InvalidMessage) as caught:
        parse_message(raw)
    assert caught.value.ids == {
        "target_id": raw["target_id"],
        "attempt_id": raw["attempt_id"],
        "task_id": raw["task_id"],
    }
    with pytest.raises(InvalidMessage) as caught:
        parse_message({"target_id": "Not Valid", "attempt_id": "../x"})
    assert caught.value.ids == {}


def test_backoff_grows_is_capped_and_ends() -> None:
    delays = [retry_delay(n) for n in range(MAX_RETRIES + 1)]
    assert delays[:MAX_RETRIES] == sorted(delays[:MAX_RETRIES])  # type: ignore[type-var]
    assert all(d is not None and 0 < d <= 60 for d in delays[:MAX_RETRIES])
    assert delays[MAX_RETRIES] is None


def test_a_new_run_is_reported_as_dispatched_and_printed() -> None:
    sink = RecordingSink()
    message, outcome, said = run(ScriptedExecutor(True), sink)
    assert (outcome.action, outcome.status) == ("done", "started")
    assert said == [f"✓ Worker job submitted: {job_name(message.attempt_id)}"]
    [event] = sink.events
    assert event.type is EventType.ATTEMPT_DISPATCHED
    assert event.event_id == f"{message.attempt_id}:attempt.dispatched"
    assert event.fence == message.fence
    assert event.payload["job_name"] == job_name(message.attempt_id)


def test_a_duplicate_delivery_is_success_and_resends_the_same_event_id() -> None:
    sink = RecordingSink()
    _, outcome, said = run(ScriptedExecutor(False), sink)
    assert (outcome.action, outcome.status) == ("done", "duplicate")
    assert "duplicate delivery" in said[0]
    assert [e.type for e in sink.events] == [EventType.ATTEMPT_DISPATCHED]


def test_an_unavailable_executor_is_retried_without_events() -> None:
    sink = RecordingSink()
    executor = ScriptedExecutor(ExecutorUnavailable("API down"))
    _, outcome, _ = run(executor, sink, retries=1)
    assert (outcome.action, outcome.status) == ("retry", "retry")
    assert outcome.delay == retry_delay(1)
    assert sink.events == []
    assert executor.deleted == []


def test_retries_end_in_attempt_failed_dispatch_failed() -> None:
    sink = RecordingSink()
    executor = ScriptedExecutor(ExecutorUnavailable("API down"))
    message, outcome, said = run(executor, sink, retries=MAX_RETRIES)
    assert (outcome.action, outcome.status) == ("done", "failed")
    [event] = sink.events
    assert event.type is EventType.ATTEMPT_FAILED
    assert event.payload["reason"] == "dispatch_failed"
    assert "API down" in event.payload["message"]
    assert event.attempt_id == message.attempt_id
    assert said[0].startswith("✗ Worker job not submitted")
    assert executor.deleted == [message.attempt_id]  # nothing may run for a failed attempt


def test_a_refused_run_fails_at_once() -> None:
    sink = RecordingSink()
    _, outcome, _ = run(ScriptedExecutor(ExecutorRejected("HTTP 422: Job is invalid")), sink)
    assert (outcome.action, outcome.status) == ("done", "failed")
    assert sink.events[0].payload["reason"] == "dispatch_failed"


@pytest.mark.parametrize("error", [ControlPlaneRejected(409, "conflict"), RuntimeError("boom")])
def test_reporting_problems_never_escape(error: Exception) -> None:
    sink = RecordingSink(error)
    event = failed_event({"target_id": "radix", "attempt_id": "attempt-a-1"}, "text")
    post(sink, event)
    assert sink.events == [event]


def test_a_failure_without_target_and_attempt_cannot_be_reported() -> None:
    assert failed_event({"attempt_id": "attempt-a-1"}, "text") is None


def make_runtime(tmp_path: Path, sink: RecordingSink, executor: ScriptedExecutor) -> Runtime:
    config = tmp_path / "radix.yaml"
    config.write_text("target_id: radix\ntarget_repo_url: file:///srv/radix.git\nexecutor: local\n")
    settings = Settings(config=str(config), control_plane_url="http://cp.invalid")
    return Runtime(
        settings,
        executor_factory=lambda _config, _settings: executor,
        sink_factory=lambda _url, _settings: sink,
        say=lambda _text: None,
    )


def test_runtime_rejects_a_bad_message_and_reports_the_attempt(tmp_path: Path) -> None:
    sink, executor = RecordingSink(), ScriptedExecutor()
    raw = {**wire(dispatch_message()), "attempt_number": 0}
    outcome = make_runtime(tmp_path, sink, executor).handle(raw)
    assert (outcome.action, outcome.status) == ("reject", "invalid")
    assert "attempt_number" in outcome.detail
    assert executor.started == []
    [event] = sink.events
    assert (event.type, event.attempt_id) == (EventType.ATTEMPT_FAILED, raw["attempt_id"])
    assert event.payload["reason"] == "dispatch_failed"


def test_runtime_only_logs_a_message_that_names_no_attempt(tmp_path: Path) -> None:
    sink = RecordingSink()
    outcome = make_runtime(tmp_path, sink, ScriptedExecutor()).handle("garbage")
    assert outcome.action == "reject"
    assert sink.events == []


def test_runtime_fails_an_attempt_for_an_unknown_target(tmp_path: Path) -> None:
    sink, executor = RecordingSink(), ScriptedExecutor()
    outcome = make_runtime(tmp_path, sink, executor).handle(wire(dispatch_message("elsewhere")))
    assert (outcome.action, outcome.status) == ("done", "failed")
    assert "'elsewhere' is not configured" in outcome.detail
    assert sink.events[0].payload["reason"] == "dispatch_failed"
    assert executor.started == []


def test_runtime_starts_a_valid_message(tmp_path: Path) -> None:
    sink, executor = RecordingSink(), ScriptedExecutor(True)
    message = dispatch_message()
    outcome = make_runtime(tmp_path, sink, executor).handle(wire(message))
    assert (outcome.action, outcome.status) == ("done", "started")
    assert executor.started == [message.attempt_id]
    assert sink.events[0].payload["executor"] == "local"
