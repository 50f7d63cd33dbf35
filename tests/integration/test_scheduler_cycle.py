"""Select cycles against real parts: redis-server, the control plane under uvicorn,
a bare git repository with the local forge, the GitHub and Kubernetes API fakes."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import yaml
from tests.support.git_http import GitHttpServer
from tests.support.github_fake import GitHubFake
from tests.support.gitrepo import make_target_repo
from tests.support.k8s_fake import KubernetesFake
from tests.support.scheduler_stack import BACKLOG, SchedulerStack, scheduler_stack, wait_for
from tests.support.servers import RedisServer, UvicornThread, free_port

from leviathan_adapters import slots
from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_core.constants import QUEUE_DISPATCH
from leviathan_core.events import Event, EventType, new_event
from leviathan_core.job_naming import job_name
from leviathan_core.messages import DispatchMessage
from leviathan_dispatch.executors.factory import make_executor
from leviathan_scheduler.cycle import run_cycle
from leviathan_scheduler.reconciler import reconcile


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[SchedulerStack]:
    with scheduler_stack(tmp_path, redis_url) as built:
        yield built


def queued(redis_url: str) -> list[DispatchMessage]:
    """Dispatch messages waiting in the broker (nothing consumes them in these tests)."""
    client = redis.Redis.from_url(redis_url)
    envelopes = [json.loads(raw) for raw in client.lrange(QUEUE_DISPATCH, 0, -1)]
    # A kombu envelope holds the task's (args, kwargs, embed) as base64 JSON.
    return [
        DispatchMessage.model_validate(json.loads(base64.b64decode(e["body"]))[0][0])
        for e in envelopes
    ]


def fail_attempt(stack: SchedulerStack, attempt_id: str) -> None:
    with ControlPlaneClient(stack.cp.url, stack.cp.token) as client:
        client.post_event(
            new_event(
                EventType.ATTEMPT_FAILED,
                target_id="radix",
                actor="worker",
                attempt_id=attempt_id,
                payload={"reason": "engine_failed", "message": "the engine failed"},
            )
        )


def test_a_cycle_dispatches_and_records_everything(stack: SchedulerStack) -> None:
    printed: list[str] = []
    runtime = stack.runtime(printed=printed)
    config = runtime.config_for("radix")
    outcome = run_cycle(config, runtime.deps_for(config))
    assert outcome.status == "dispatched"
    assert outcome.attempt_id is not None
    (message,) = queued(stack.redis_url)
    assert message.attempt_id == outcome.attempt_id
    created = stack.events("attempt.created")
    assert [e["attempt_id"] for e in created] == [outcome.attempt_id]
    assert message.created_event == created[0]
    (cycle,) = stack.events("scheduler.cycle")
    assert cycle["payload"]["action"] == "dispatch"
    assert f"✓ Worker job submitted: {job_name(outcome.attempt_id)}" in printed
    assert [a["attempt_id"] for a in stack.state()["running_attempts"]] == [outcome.attempt_id]


def test_control_plane_unreachable_skips_without_dispatch(stack: SchedulerStack) -> None:
    runtime = stack.runtime(control_plane_url=f"http://127.0.0.1:{free_port()}")
    config = runtime.config_for("radix")
    outcome = run_cycle(config, runtime.deps_for(config))
    assert (outcome.status, outcome.reason) == ("skipped", "fact_unavailable:control_plane")
    assert queued(stack.redis_url) == []
    assert slots.holders(redis.Redis.from_url(stack.redis_url), "radix").running == {}
    spool = Path(stack.settings().spool_path()) / "scheduler-radix.jsonl"
    spooled = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [e["type"] for e in spooled] == ["scheduler.cycle"]  # recorded later, not lost
    assert spooled[0]["payload"]["reasons"] == ["fact_unavailable:control_plane"]


def test_redis_unreachable_skips_without_dispatch(stack: SchedulerStack) -> None:
    printed: list[str] = []
    runtime = stack.runtime(printed=printed, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    config = runtime.config_for("radix")
    outcome = run_cycle(config, runtime.deps_for(config))
    assert (outcome.status, outcome.reason) == ("skipped", "fact_unavailable:redis")
    assert "✗ No task selected: fact_unavailable:redis" in printed
    (cycle,) = stack.events("scheduler.cycle")
    assert cycle["payload"]["reasons"] == ["fact_unavailable:redis"]
    assert stack.events("attempt.created") == []


def test_forge_rate_limited_skips_without_dispatch(tmp_path: Path, redis_url: str) -> None:
    """GitHub answers 403 (secondary rate limit) to real PyGithub: fact_unavailable:forge,
    and the token's hold stops every further request until the time GitHub named."""
    git_root = tmp_path / "git"
    repo = make_target_repo(git_root / "o", BACKLOG)
    github = GitHubFake()
    github.git_root = git_root
    github.add_repo(f"o/{repo.stem}")
    github.retry_after = 2
    github.inject("secondary", times=None)
    with (
        UvicornThread(GitHttpServer(git_root).app) as git_server,
        UvicornThread(github.app) as api,
        scheduler_stack(tmp_path / "stack", redis_url) as stack,
    ):
        stack.write_config(
            forge="github",
            target_repo_url=f"{git_server.url}/o/{repo.name}",
            github_api_url=api.url,
        )
        runtime = stack.runtime()
        config = runtime.config_for("radix")
        outcome = run_cycle(config, runtime.deps_for(config))
        assert (outcome.status, outcome.reason) == ("skipped", "fact_unavailable:forge")
        assert queued(stack.redis_url) == []
        (cycle,) = stack.events("scheduler.cycle")
        # The PR list drew the refusal; the backlog read was held without a request.
        assert cycle["payload"]["facts"]["unavailable"] == ["forge", "backlog"]
        assert len(github.requests) == 1
        held = run_cycle(config, runtime.deps_for(config))
        assert (held.status, held.reason) == ("skipped", "fact_unavailable:forge")
        assert len(github.requests) == 1  # held: GitHub was not asked again
        github.clear_faults()
        time.sleep(github.retry_after + 0.5)  # the hold GitHub asked for runs out
        assert run_cycle(config, runtime.deps_for(config)).status == "dispatched"


def test_redis_restart_mid_run_loses_no_attempt_and_never_admits_two(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "private-redis")
    server.start()
    try:
        with scheduler_stack(tmp_path / "stack", server.url, max_open_prs=2) as stack:
            runtime = stack.runtime()
            config = runtime.config_for("radix")
            deps = runtime.deps_for(config)
            first = run_cycle(config, deps)
            assert first.status == "dispatched"
            server.stop()
            down = run_cycle(config, deps)
            assert (down.status, down.reason) == ("skipped", "fact_unavailable:redis")
            server.start()  # empty: no slots, no fence counter
            after = run_cycle(config, deps)
            assert (after.status, after.reason) == ("skipped", "max_running_attempts")
            assert [e["attempt_id"] for e in stack.events("attempt.created")] == [first.attempt_id]
            running = stack.state()["running_attempts"]
            assert [a["attempt_id"] for a in running] == [first.attempt_id]
    finally:
        server.stop()


def test_pause_with_expiry_resumes_by_itself(stack: SchedulerStack) -> None:
    runtime = stack.runtime()
    config = runtime.config_for("radix")
    deps = runtime.deps_for(config)
    paused = stack.invoke("pause", "--target", "radix", "--reason", "deploy freeze", "--for", "2h")
    assert paused.exit_code == 0, paused.output
    assert "Paused radix: deploy freeze (until " in paused.stdout
    status = stack.invoke("status", "--json")
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.stdout)["targets"]
    assert row["paused"]["reason"] == "deploy freeze"
    assert row["paused"]["until"] is not None
    assert run_cycle(config, deps).reason == "paused"
    # A new pause replaces the old one; this one runs out while nobody resumes it.
    short = stack.invoke("pause", "--target", "radix", "--reason", "blip", "--for", "1s")
    assert short.exit_code == 0, short.output
    wait_for(lambda: slots.pause_state(deps.redis, "radix") is None, "the pause to expire")
    assert run_cycle(config, deps).status == "dispatched"
    types = [e["type"] for e in stack.events()]
    assert types.count("target.paused") == 2
    assert types.count("attempt.created") == 1


def test_tick_exit_codes(stack: SchedulerStack) -> None:
    skipped = stack.cli(
        "tick", "--target", "radix", LEVIATHAN_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "✗ No task selected: fact_unavailable:redis" in skipped.stdout
    assert "Traceback" not in skipped.stderr
    stack.config_file.write_text(stack.config_file.read_text() + "max_open_prz: 3\n")
    invalid = stack.cli("tick", "--target", "radix")
    assert invalid.returncode == 2
    assert "key 'max_open_prz': unknown key" in invalid.stderr
    assert "Traceback" not in invalid.stderr


def test_breaker_opens_after_two_failures_and_reset_closes_it(stack: SchedulerStack) -> None:
    stack.write_config(max_attempts_per_task=5)
    runtime = stack.runtime()
    config = runtime.config_for("radix")
    deps = runtime.deps_for(config)
    for _ in range(2):
        outcome = run_cycle(config, deps)
        assert outcome.status == "dispatched"
        assert outcome.attempt_id is not None
        fail_attempt(stack, outcome.attempt_id)
    for _ in range(2):
        assert run_cycle(config, deps).reason == "breaker_open"
    opened = stack.events("breaker.opened")
    assert len(opened) == 1
    assert opened[0]["payload"]["consecutive_failures"] == 2
    failures = stack.invoke("attempts", "--target", "radix", "--failed")
    assert failures.exit_code == 0, failures.output
    lines = failures.output.splitlines()
    assert len(lines) == 2
    assert all(" failed engine_failed: the engine failed" in line for line in lines)
    listed = json.loads(stack.invoke("attempts", "--target", "radix", "--json").output)
    assert [a["status"] for a in listed["attempts"]] == ["failed", "failed"]
    reset = stack.invoke("reset-breaker", "--target", "radix", "--reason", "token rotated")
    assert reset.exit_code == 0, reset.output
    after = run_cycle(config, deps)
    assert after.status == "dispatched"
    assert after.decision is not None
    assert after.decision.attempt_number == 3


def test_a_half_open_breaker_probes_once_the_cooldown_is_over(stack: SchedulerStack) -> None:
    stack.write_config(max_attempts_per_task=5, breaker_probe_after_seconds=60)
    runtime = stack.runtime()
    config = runtime.config_for("radix")
    deps = runtime.deps_for(config)
    for _ in range(2):
        outcome = run_cycle(config, deps)
        assert outcome.attempt_id is not None
        fail_attempt(stack, outcome.attempt_id)
    assert run_cycle(config, deps).reason == "breaker_open"
    # The newest failure's time comes from the control plane's /v1/failures.
    later = dataclasses.replace(deps, clock=lambda: deps.clock() + timedelta(seconds=61))
    probe = run_cycle(config, later)
    assert probe.status == "dispatched"
    assert probe.decision is not None and probe.decision.breaker_probe
    record = stack.events("scheduler.cycle")[-1]["payload"]
    assert (record["action"], record["breaker_probe"]) == ("dispatch", True)
    assert run_cycle(config, later).reason == "breaker_open"  # one probe at a time


def test_a_worker_that_never_reports_is_failed_and_its_slot_released(
    stack: SchedulerStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    with KubernetesFake() as k8s:
        kubeconfig = stack.tmp / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(k8s.kubeconfig("leviathan")))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        stack.write_config(
            executor="kubernetes",
            worker_namespace="leviathan",
            attempt_timeout_seconds=1,
            attempt_grace_seconds=0,
        )
        runtime = stack.runtime()
        config = runtime.config_for("radix")
        deps = runtime.deps_for(config)
        outcome = run_cycle(config, deps)
        assert outcome.attempt_id is not None
        (message,) = queued(stack.redis_url)
        # Create the Job as the dispatcher does (same builder, same executor class).
        dispatcher_side = make_executor(config, stack.settings(), control_plane_url=stack.cp.url)
        assert dispatcher_side.start(message) is True
        name = job_name(outcome.attempt_id)
        k8s.start_job("leviathan", name)  # the pod runs and never reports
        assert reconcile(config, deps).failed == []
        clock = deps.clock
        deps.clock = lambda: clock() + timedelta(seconds=5)  # past timeout + grace
        report = reconcile(config, deps)
        assert report.failed == [(outcome.attempt_id, "timeout")]
        assert report.released_running == [outcome.attempt_id]
        assert report.released_pr == [outcome.attempt_id]
        assert k8s.job("leviathan", name) is None  # deleted
        (failed,) = stack.events("attempt.failed")
        assert failed["payload"]["reason"] == "timeout"
        held = slots.holders(redis.Redis.from_url(stack.redis_url), "radix")
        assert held.running == {}
        assert held.pr == {}


def test_plan_with_live_facts_changes_nothing(stack: SchedulerStack) -> None:
    planned = stack.invoke("plan", "--target", "radix", "--json")
    assert planned.exit_code == 0, planned.output
    decision = json.loads(planned.stdout)
    assert (decision["action"], decision["task_id"]) == ("dispatch", "fix-links")
    assert stack.events() == []
    assert slots.holders(redis.Redis.from_url(stack.redis_url), "radix").running == {}
    paused = stack.invoke("pause", "--target", "radix", "--reason", "look first")
    assert paused.exit_code == 0, paused.output
    text = stack.invoke("plan", "--target", "radix")
    assert "✗ No task selected: paused" in text.stdout
    resumed = stack.invoke("resume", "--target", "radix")
    assert resumed.exit_code == 0, resumed.output
    assert "Resumed radix" in resumed.stdout
    status = stack.invoke("status")
    assert "  Paused: no" in status.stdout
    assert "  Running attempts: 0" in status.stdout
    assert [e["type"] for e in stack.events()] == ["target.paused", "target.resumed"]


def test_an_invalid_backlog_is_posted_once_per_blob_and_warns_once(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Ticks on the same broken blob neither re-post it nor warn about a 409 each time."""
    with scheduler_stack(tmp_path, redis_url, backlog="tasks:\n  - id: a\n   title: x\n") as stack:
        runtime = stack.runtime()
        config = runtime.config_for("radix")
        deps = runtime.deps_for(config)
        posted: list[str] = []
        post_event = deps.control_plane.post_event

        def spy(event: Event) -> object:
            posted.append(event.type.value)
            return post_event(event)

        deps.control_plane.post_event = spy  # type: ignore[method-assign]
        with caplog.at_level(logging.INFO, logger="leviathan_scheduler"):
            reasons = [run_cycle(config, deps).reason for _ in range(3)]
        assert reasons == ["backlog_invalid"] * 3
        assert posted.count("backlog.invalid") == 1
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
        (invalid,) = stack.events("backlog.invalid")
        payload = invalid["payload"]
        assert (payload["path"], payload["line"]) == ("radix:.leviathan/backlog.yaml", 3)
        assert isinstance(payload["column"], int)
        assert payload["message"].startswith("invalid YAML: ")
        assert payload["sha"]
        # A fresh process (`leviathan tick`, the CronJob mode) finds it already recorded.
        again = stack.cli("tick", "--target", "radix")
        assert again.returncode == 0, again.stderr
        assert "✗ No task selected: backlog_invalid" in again.stdout
        assert again.stderr == ""
        assert len(stack.events("backlog.invalid")) == 1


def test_a_tick_that_finds_the_lock_held_says_who_holds_it(stack: SchedulerStack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    token = slots.acquire_cycle_lock(client, "radix", 120, holder="reconcile on node-7 pid 42")
    assert token is not None
    text = stack.cli("tick", "--target", "radix")
    assert text.returncode == 0, text.stderr
    assert "✗ No task selected: cycle_locked" in text.stdout
    assert "held by reconcile on node-7 pid 42 for " in text.stdout
    assert "s; it expires in " in text.stdout
    as_json = stack.cli("tick", "--target", "radix", "--json")
    assert as_json.returncode == 0, as_json.stderr
    outcome = json.loads(as_json.stdout)
    assert (outcome["status"], outcome["reason"]) == ("locked", "cycle_locked")
    assert outcome["message"].startswith("held by reconcile on node-7 pid 42 for ")
    assert stack.events("attempt.created") == []
    assert slots.release_cycle_lock(client, "radix", token)


def test_plan_and_status_with_the_stack_down_say_unknown(stack: SchedulerStack) -> None:
    """Counts that could not be read are `unknown`, never 0, and no task is judged eligible."""
    down = {
        "LEVIATHAN_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "LEVIATHAN_CONTROL_PLANE_URL": f"http://127.0.0.1:{free_port()}",
    }
    planned = stack.cli("plan", "--target", "radix", **down)
    assert planned.returncode == 0, planned.stderr
    assert "Open PRs: unknown/1" in planned.stdout
    assert "Running attempts: unknown/1" in planned.stdout
    assert "Backlog tasks: 1" in planned.stdout
    assert "  - fix-links: unknown (control plane, Redis unavailable)" in planned.stdout
    assert "eligible" not in planned.stdout
    as_json = json.loads(stack.cli("plan", "--target", "radix", "--json", **down).stdout)
    assert as_json["reason"] == "fact_unavailable:control_plane"
    assert as_json["tasks"][0]["eligible"] is None
    stack.write_config(local_forge_dir="/proc/no-such-dir/forge")
    status = stack.cli("status", **down)
    assert status.returncode == 1, status.stdout
    assert "  Open PRs: unavailable (" in status.stdout
    assert "error: status: nothing could be read" in status.stderr
