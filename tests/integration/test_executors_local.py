"""LocalExecutor with real processes: a stand-in worker script under the real wrapper."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.messages import dispatch_message
from tests.support.servers import wait_for

from leviathan_adapters.runs.factory import make_run_inspector
from leviathan_adapters.runs.local import LocalRuns, process_start_time
from leviathan_core.config import AutonomyConfig
from leviathan_core.messages import DispatchMessage
from leviathan_core.runs import ExecutorRejected
from leviathan_core.settings import Settings
from leviathan_dispatch.executors.factory import make_executor
from leviathan_dispatch.executors.local import LocalExecutor

STANDIN = """\
#!{python}
import json, os, pathlib, subprocess, sys, time
records = pathlib.Path(os.environ["STANDIN_DIR"])
attempt = os.environ["LEVIATHAN_ATTEMPT"]
seen = {{k: v for k, v in os.environ.items() if k.startswith("LEVIATHAN_") or k == "GITHUB_TOKEN"}}
with open(records / (attempt + ".starts"), "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "env": seen, "pid": os.getpid()}}) + "\\n")
print("worker says hello", flush=True)
print("worker complains", file=sys.stderr, flush=True)
if os.environ.get("STANDIN_GRANDCHILD"):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    (records / (attempt + ".grandchild")).write_text(str(child.pid))
release = records / (attempt + ".release")
while not release.exists():
    time.sleep(0.02)
sys.exit(int(release.read_text() or "0"))
"""


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    return wait_for(predicate, what, timeout, interval=0.02)


@pytest.fixture
def records(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    return folder


@pytest.fixture
def standin(tmp_path: Path) -> list[str]:
    script = tmp_path / "standin-worker"
    script.write_text(STANDIN.format(python=sys.executable))
    script.chmod(0o755)
    return [str(script)]


@pytest.fixture
def executor(tmp_path: Path, standin: list[str], records: Path) -> LocalExecutor:
    env = {"STANDIN_DIR": str(records), "GITHUB_TOKEN": "gh-test-token"}
    return LocalExecutor(tmp_path / "runs", command=standin, env=env, kill_grace_seconds=10)


def starts(records: Path, message: DispatchMessage) -> list[dict[str, Any]]:
    path = records / f"{message.attempt_id}.starts"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def release(records: Path, message: DispatchMessage, code: int = 0) -> None:
    (records / f"{message.attempt_id}.release").write_text(str(code))


def state(executor: LocalExecutor, message: DispatchMessage) -> str:
    return executor.status(message.attempt_id).state


def test_a_run_goes_from_running_to_succeeded(executor: LocalExecutor, records: Path) -> None:
    message = dispatch_message()
    assert executor.start(message) is True
    wait_until(lambda: starts(records, message), "the worker to start")
    assert state(executor, message) == "running"
    release(records, message, 0)
    wait_until(lambda: state(executor, message) == "succeeded", "success")
    log = executor.log_path(message.attempt_id).read_text()
    assert "worker says hello" in log
    assert "worker complains" in log


def test_a_nonzero_exit_is_a_failure_with_the_code(executor: LocalExecutor, records: Path) -> None:
    message = dispatch_message()
    executor.start(message)
    wait_until(lambda: starts(records, message), "the worker to start")
    release(records, message, 3)
    status = wait_until(
        lambda: (s := executor.status(message.attempt_id)).state == "failed" and s, "failure"
    )
    assert status.detail == "exit code 3"


def test_a_duplicate_delivery_starts_nothing(executor: LocalExecutor, records: Path) -> None:
    message = dispatch_message()
    assert executor.start(message) is True
    assert executor.start(message) is False
    wait_until(lambda: starts(records, message), "the worker to start")
    release(records, message)
    wait_until(lambda: state(executor, message) == "succeeded", "success")
    assert executor.start(message) is False  # also after it ended
    assert len(starts(records, message)) == 1


def test_the_worker_gets_the_job_contract(executor: LocalExecutor, records: Path) -> None:
    message = dispatch_message("radix", "fix-links", fence=11, attempt_number=2)
    executor.start(message)
    [seen] = wait_until(lambda: starts(records, message), "the worker to start")
    release(records, message)
    assert seen["argv"] == [
        "run", "--target", "radix", "--task", "fix-links",
        "--attempt", message.attempt_id, "--fence", "11",
    ]  # fmt: skip
    env = seen["env"]
    assert env["LEVIATHAN_TARGET"] == "radix"
    assert env["LEVIATHAN_TASK"] == "fix-links"
    assert env["LEVIATHAN_ATTEMPT"] == message.attempt_id
    assert env["LEVIATHAN_ATTEMPT_NUMBER"] == "2"
    assert env["LEVIATHAN_FENCE"] == "11"
    assert json.loads(env["LEVIATHAN_CREATED_EVENT"]) == message.created_event
    assert env["GITHUB_TOKEN"] == "gh-test-token"
    workspace = Path(env["LEVIATHAN_WORKSPACE_DIR"])
    assert workspace.is_absolute()
    assert workspace.parent == executor.attempt_dir(message.attempt_id).resolve()


def test_status_is_readable_from_another_process(executor: LocalExecutor, records: Path) -> None:
    message = dispatch_message()
    executor.start(message)
    wait_until(lambda: starts(records, message), "the worker to start")
    probe = (
        "import sys; from pathlib import Path; "
        "from leviathan_adapters.runs.local import LocalRuns; "
        "print(LocalRuns(Path(sys.argv[1])).status(sys.argv[2]).state)"
    )

    def other_process_sees() -> str:
        argv = [sys.executable, "-c", probe, str(executor.run_dir), message.attempt_id]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    assert other_process_sees() == "running"
    release(records, message)
    wait_until(lambda: state(executor, message) == "succeeded", "success")
    assert other_process_sees() == "succeeded"


def test_delete_kills_the_whole_process_group(tmp_path: Path, standin: list[str]) -> None:
    records = tmp_path / "records"
    records.mkdir()
    env = {"STANDIN_DIR": str(records), "STANDIN_GRANDCHILD": "1"}
    executor = LocalExecutor(tmp_path / "runs", command=standin, env=env, kill_grace_seconds=10)
    message = dispatch_message()
    executor.start(message)
    grandchild_file = records / f"{message.attempt_id}.grandchild"
    grandchild = int(wait_until(lambda: grandchild_file.exists() and grandchild_file.read_text(),
                                "the grandchild"))  # fmt: skip
    [seen] = starts(records, message)
    assert process_start_time(grandchild) is not None
    executor.delete(message.attempt_id)
    assert state(executor, message) == "missing"
    assert executor.status(message.attempt_id).detail == "run was deleted"
    wait_until(lambda: process_start_time(seen["pid"]) is None, "the worker to die")
    wait_until(lambda: process_start_time(grandchild) is None, "the grandchild to die")
    executor.delete(message.attempt_id)  # deleting again is fine


def test_unknown_runs_are_missing_and_deleting_them_is_fine(executor: LocalExecutor) -> None:
    assert executor.status("attempt-none-00000000").state == "missing"
    executor.delete("attempt-none-00000000")
    with pytest.raises(ValueError, match="not a valid attempt id"):
        executor.status("../escape")


def test_a_wrapper_killed_outright_reads_as_failed(executor: LocalExecutor, records: Path) -> None:
    message = dispatch_message()
    executor.start(message)
    wait_until(lambda: starts(records, message), "the worker to start")
    pid = int((executor.attempt_dir(message.attempt_id) / "pid").read_text().split()[0])
    os.killpg(pid, signal.SIGKILL)
    status = wait_until(
        lambda: (s := executor.status(message.attempt_id)).state == "failed" and s, "failure"
    )
    assert "without recording an exit code" in status.detail


def test_a_missing_program_is_refused_and_leaves_no_claim(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "runs", command=[str(tmp_path / "no-such-worker")])
    message = dispatch_message()
    with pytest.raises(ExecutorRejected, match="not found"):
        executor.start(message)
    assert executor.status(message.attempt_id).state == "missing"


def test_output_is_echoed_with_the_attempt_prefix(
    executor: LocalExecutor, records: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    message = dispatch_message()
    executor.start(message)
    wait_until(lambda: starts(records, message), "the worker to start")
    release(records, message)
    wait_until(lambda: state(executor, message) == "succeeded", "success")
    out = capfd.readouterr().out
    assert f"[{message.attempt_id}] worker says hello" in out


def test_the_factory_builds_a_local_executor_under_the_data_dir(tmp_path: Path) -> None:
    config = AutonomyConfig(
        target_id="radix", target_repo_url="file:///srv/radix.git", executor="local"
    )
    settings = Settings(
        config=str(tmp_path / "radix.yaml"),
        data_dir=str(tmp_path / "data"),
        control_plane_url="http://127.0.0.1:9",
        control_plane_token="cp-token",  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    executor = make_executor(config, settings)
    assert isinstance(executor, LocalExecutor)
    assert executor.run_dir == (tmp_path / "data" / "runs").resolve()
    assert executor.env["LEVIATHAN_CONTROL_PLANE_URL"] == "http://127.0.0.1:9"
    assert executor.env["LEVIATHAN_CONTROL_PLANE_TOKEN"] == "cp-token"
    assert executor.env["LEVIATHAN_CONFIG"] == str((tmp_path / "radix.yaml").resolve())


def test_the_reconciler_reads_runs_where_the_dispatcher_starts_them(tmp_path: Path) -> None:
    config = AutonomyConfig(
        target_id="radix", target_repo_url="file:///srv/radix.git", executor="local"
    )
    settings = Settings(
        config=str(tmp_path / "radix.yaml"),
        data_dir=str(tmp_path / "data"),
        _env_file=None,  # type: ignore[call-arg]
    )
    runs = make_run_inspector(config, settings)
    assert isinstance(runs, LocalRuns)
    assert not isinstance(runs, LocalExecutor)  # the reconciler side starts nothing
    assert runs.run_dir == make_executor(config, settings).run_dir  # type: ignore[attr-defined]
