"""What lets one deployment serve thousands of targets, against the real parts.

The batch state read and its coalescing (real control plane), the GitHub
backlog read through the contents API, one ETag cache and one rate-limit hold
per token shared by every process (real PyGithub against the GitHub fake,
real Redis), and the queue gauge the autoscaler follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
import pytest
from celery import Celery
from pydantic import SecretStr
from tests.support.control_plane import TEST_TOKEN, running_control_plane
from tests.support.git_http import GitHttpServer
from tests.support.github_fake import GitHubFake
from tests.support.gitrepo import make_target_repo
from tests.support.scheduler_stack import BACKLOG, SchedulerStack, scheduler_stack
from tests.support.servers import UvicornThread

from leviathan_adapters.celery_config import celery_settings
from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_adapters.state_reads import StateReads
from leviathan_core.constants import BACKLOG_PATH, QUEUE_SCHEDULER, TASK_SELECT_CYCLE
from leviathan_core.events import EventType, new_event
from leviathan_scheduler.cycle import run_cycle
from leviathan_scheduler.runtime import Runtime

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


def test_the_batch_state_read_answers_what_single_reads_answer(tmp_path: Path) -> None:
    with (
        running_control_plane(tmp_path / "cp") as cp,
        ControlPlaneClient(cp.url, TEST_TOKEN) as client,
    ):
        for target, failures in (("a", 1), ("b", 2)):
            for n in range(failures):
                attempt = f"attempt-t-{target}{n}"
                client.post_event(
                    new_event(
                        EventType.ATTEMPT_CREATED,
                        target_id=target,
                        actor="test",
                        attempt_id=attempt,
                        task_id="t",
                        payload={"attempt_number": n + 1, "fence": n + 1},
                    )
                )
                client.post_event(
                    new_event(
                        EventType.ATTEMPT_FAILED,
                        target_id=target,
                        actor="test",
                        attempt_id=attempt,
                        payload={"reason": "engine_failed", "message": "exit 3"},
                    )
                )
        asked = ["b", "unknown", "a", "b"]
        answer = httpx.get(
            f"{cp.url}/v1/targets/states",
            params=[("target", t) for t in asked] + [("day", "2026-01-02")],
            headers=AUTH,
        )
        assert answer.status_code == 200, answer.text
        states = answer.json()["states"]
        assert [s["target_id"] for s in states] == asked
        for target, state in zip(asked, states, strict=True):
            single = httpx.get(
                f"{cp.url}/v1/targets/{target}/state", params={"day": "2026-01-02"}, headers=AUTH
            )
            assert state == single.json()
        assert states[0]["consecutive_failures"] == 2 and states[2]["consecutive_failures"] == 1
        assert states[2]["attempts_per_task"] == {"t": 1}
        too_many = [("target", f"t{n}") for n in range(101)]
        assert (
            httpx.get(f"{cp.url}/v1/targets/states", params=too_many, headers=AUTH).status_code
            == 422
        )
        assert httpx.get(f"{cp.url}/v1/targets/states", headers=AUTH).status_code == 422
        bad = httpx.get(f"{cp.url}/v1/targets/states", params={"target": "../x"}, headers=AUTH)
        assert bad.status_code == 422
        assert httpx.get(f"{cp.url}/v1/targets/states", params={"target": "a"}).status_code == 401
        # The client asks in chunks of the server's cap and keys the answers.
        many = client.target_states([f"t{n}" for n in range(250)] + ["a"], date(2026, 1, 2))
        assert len(many) == 251 and many["a"].consecutive_failures == 1


def test_concurrent_reads_leave_together_and_answer_alike(tmp_path: Path) -> None:
    with (
        running_control_plane(tmp_path / "cp") as cp,
        ControlPlaneClient(cp.url, TEST_TOKEN) as client,
    ):
        reads = StateReads(client.target_states)
        with ThreadPoolExecutor(32) as pool:
            states = list(pool.map(reads.read, [f"t{n}" for n in range(200)]))
        assert [s.target_id for s in states] == [f"t{n}" for n in range(200)]
        assert reads.stats.states == 200
        assert reads.stats.requests < 200  # reads that waited left together


@pytest.fixture
def github_stack(tmp_path: Path, redis_url: str) -> Iterator[tuple[SchedulerStack, GitHubFake]]:
    """A target whose forge is the GitHub fake, its backlog served by the contents API."""
    git_root = tmp_path / "git"
    repo = make_target_repo(git_root / "o", BACKLOG)
    github = GitHubFake()
    github.git_root = git_root
    github.add_repo(f"o/{repo.stem}")
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
        yield stack, github


def counted(github: GitHubFake) -> int:
    return sum(1 for r in github.requests if r.counted)


def cycle(runtime: Runtime) -> str:
    config = runtime.config_for("radix")
    outcome = run_cycle(config, runtime.deps_for(config))
    return f"{outcome.status}:{outcome.reason}"


def test_idle_ticks_cost_no_rate_limit_in_any_process(
    github_stack: tuple[SchedulerStack, GitHubFake],
) -> None:
    stack, github = github_stack
    stack.write_config(max_open_prs=0)  # every tick decides, none dispatches
    first = stack.runtime()
    assert cycle(first) == "skipped:max_open_prs"
    warm = counted(github)
    assert warm == 2  # the PR list and the backlog, once
    paths = {r.path for r in github.requests}
    assert any(p.endswith(f"/contents/{BACKLOG_PATH}") for p in paths)
    assert cycle(first) == "skipped:max_open_prs"
    assert counted(github) == warm  # 304s
    # Another process (its own memory, the same Redis): its first tick is free too.
    other = stack.runtime()
    assert cycle(other) == "skipped:max_open_prs"
    assert counted(github) == warm
    assert [r.status for r in github.requests[-2:]] == [304, 304]
    # A changed backlog costs exactly its one answer.
    github.put_file(
        f"o/{stack.repo.stem}", "main", BACKLOG_PATH, BACKLOG.encode() + b"\n# edited\n"
    )
    assert cycle(other) == "skipped:max_open_prs"
    assert counted(github) == warm + 1


def test_a_rate_limit_hold_stops_every_process_of_the_token(
    github_stack: tuple[SchedulerStack, GitHubFake],
) -> None:
    stack, github = github_stack
    github.retry_after = 30
    github.inject("secondary", times=1)
    first, second = stack.runtime(), stack.runtime()
    assert cycle(first) == "skipped:fact_unavailable:forge"
    seen = len(github.requests)
    printed: list[str] = []
    third = stack.runtime(printed=printed)
    for runtime in (second, third):
        assert cycle(runtime) == "skipped:fact_unavailable:forge"
    assert len(github.requests) == seen  # nobody asked GitHub while the hold stands
    assert any("every request of this token waits until" in line for line in printed)
    (*_, last) = stack.events("scheduler.cycle")
    assert "secondary rate limit" in " ".join(last["payload"]["messages"])


def test_a_backlog_over_a_megabyte_is_read_from_the_mirror(
    github_stack: tuple[SchedulerStack, GitHubFake],
) -> None:
    stack, github = github_stack
    big = BACKLOG.encode() + b"# " + b"x" * (1024 * 1024) + b"\n"
    github.put_file(f"o/{stack.repo.stem}", "main", BACKLOG_PATH, big)  # the API omits it
    runtime = stack.runtime()
    config = runtime.config_for("radix")
    snapshot = runtime.deps_for(config).backlog.read()
    # The mirror holds the repository's own file (the fake's copy is only for the API).
    assert snapshot.data.startswith(b"\ntasks:") or snapshot.data.startswith(b"tasks:")
    assert len(snapshot.data) < 1024 * 1024


def test_a_missing_backlog_is_named(github_stack: tuple[SchedulerStack, GitHubFake]) -> None:
    stack, _ = github_stack
    stack.write_config(target_branch="nowhere")
    printed: list[str] = []
    runtime = stack.runtime(printed=printed)
    assert cycle(runtime) == "skipped:fact_unavailable:backlog"
    assert any(".leviathan/backlog.yaml not found on branch 'nowhere'" in p for p in printed)


def test_the_queue_gauge_counts_waiting_ticks(tmp_path: Path, redis_url: str) -> None:
    sender = Celery("gauge-test", set_as_current=False)
    sender.conf.update(celery_settings(redis_url))
    for n in range(7):
        sender.send_task(TASK_SELECT_CYCLE, args=[f"t{n}"], queue=QUEUE_SCHEDULER)
    with running_control_plane(tmp_path / "cp", redis_url=redis_url) as cp:
        text = httpx.get(f"{cp.url}/metrics").text
    assert 'leviathan_queue_messages{queue="leviathan.scheduler"} 7.0' in text
    assert 'leviathan_queue_messages{queue="leviathan.dispatch"} 0.0' in text
    sender.close()


def test_a_cycle_runs_on_a_github_apps_installation_tokens_only(
    github_stack: tuple[SchedulerStack, GitHubFake],
) -> None:
    """The scheduler's shared client, hold and ETag cache work with App credentials:
    the PR list and the backlog (contents API) are read with installation tokens, no PAT."""
    from tests.support.github_app_fake import AppAuthority, key_pair

    stack, github = github_stack
    private, public = key_pair()
    authority = AppAuthority(77, public)
    authority.install(5, f"o/{stack.repo.stem}")
    github.use_app(authority)  # from now on only the App's tokens are accepted
    runtime = stack.runtime(GITHUB_APP_ID=77, GITHUB_APP_PRIVATE_KEY=SecretStr(private))
    assert cycle(runtime) == "dispatched:None"
    minted = [r for r in github.requests if r.path.endswith("/access_tokens")]
    assert len(minted) == 1
    reads = [r for r in github.requests if "/repos/" in r.path and r.method == "GET"]
    assert {r.status for r in reads} == {200}
    assert any(r.path.endswith(f"/contents/{BACKLOG_PATH}") for r in reads)
