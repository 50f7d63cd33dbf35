"""The worker Job that job_spec builds, played container by container on the engine.

``build_job`` makes the Job the dispatcher would create; ``PodRunner`` runs its
``prepare`` and ``engine`` init containers and its ``publish`` container with
the spec's users, mounts, environment and hardening, on the compose network
where the control plane and the forge live. The engine's command writes what
it can see into the file it is asked to change, so the pushed PR itself shows
that the engine held no token, ran as another uid and saw no publisher files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import (
    SECRET_CONTROL_PLANE,
    SECRET_CONTROL_PLANE_KEY,
    SECRET_GITHUB,
    SECRET_GITHUB_KEY,
)
from leviathan_core.events import EventType, new_event
from leviathan_core.messages import DispatchMessage
from leviathan_dispatch.job_spec import build_job
from tests.docker.conftest import JOB_REPO
from tests.docker.engine import Engine
from tests.docker.pod_runner import ContainerRun, PodRunner
from tests.docker.stack import GITHUB_TOKEN, PROJECT, SEED_EVENTS, TOKEN, Stack
from tests.support.gitrepo import git

TASK = "engine-report"
ATTEMPT = "attempt-engine-report-5eed0001"
# What the engine records: its ids, its environment, what lies beside its tree,
# and any token it can find in the /proc of every process it can see.
REPORT = (
    "{ echo '# What the engine saw'; id; echo; env | sort; echo; ls -a ..; echo;"
    " ls -a ../..; echo; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | sort -u;"
    " } > docs/engine-report.md"
)


def job_config(config_dir: Path) -> AutonomyConfig:
    data = {
        "target_id": "jobdemo",
        "target_repo_url": f"http://forge:8080/{JOB_REPO}.git",
        "forge": "github",
        "github_api_url": "http://forge:8080/api/v3",
        "change_engine": "command",
        "change_command": ["sh", "-c", REPORT],
        "worker_image": "leviathan-worker:local",
        "attempt_timeout_seconds": 900,
    }
    config = AutonomyConfig(**data)
    config_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"{key}: {value!r}" if isinstance(value, str) else f"{key}: {value}"
             for key, value in data.items() if key != "change_command"]  # fmt: skip
    lines.append(f"change_command: [sh, -c, {REPORT!r}]")
    (config_dir / "jobdemo.yaml").write_text("\n".join(lines) + "\n")
    # A ConfigMap volume is world-readable; pytest's folders are not.
    config_dir.chmod(0o755)
    (config_dir / "jobdemo.yaml").chmod(0o644)
    return config


@pytest.fixture(scope="module")
def job_runs(
    engine: Engine, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> list[ContainerRun]:
    config_dir = tmp_path_factory.mktemp("configmap")
    config = job_config(config_dir)
    created = new_event(
        EventType.ATTEMPT_CREATED,
        target_id="jobdemo",
        actor="scheduler",
        attempt_id=ATTEMPT,
        task_id=TASK,
        fence=1,
        payload={"attempt_number": 1},
    )
    message = DispatchMessage(
        target_id="jobdemo",
        task_id=TASK,
        attempt_id=ATTEMPT,
        attempt_number=1,
        fence=1,
        created_event=created.model_dump(mode="json"),
    )
    job = build_job(config, message, control_plane_url="http://control-plane:8000")
    runner = PodRunner(
        engine,
        network=f"{PROJECT}_default",
        secrets={
            (SECRET_GITHUB, SECRET_GITHUB_KEY): GITHUB_TOKEN,
            (SECRET_CONTROL_PLANE, SECRET_CONTROL_PLANE_KEY): TOKEN,
        },
        config_maps={"leviathan-autonomy-config": config_dir},
    )
    return runner.run(job)


def test_the_three_containers_run_in_order_and_open_the_pr(
    job_runs: list[ContainerRun], stack: Stack
) -> None:
    outcome = [(run.name, run.init, run.code) for run in job_runs]
    logs = "\n".join(f"--- {run.name}\n{run.logs[-3000:]}" for run in job_runs)
    assert outcome == [("prepare", True, 0), ("engine", True, 0), ("publish", False, 0)], logs
    assert "✓ PR created:" in job_runs[-1].logs
    timeline = stack.api(f"/v1/attempts/{ATTEMPT}")
    assert [e["event"]["type"] for e in timeline["events"]] == [
        "attempt.created",
        "attempt.started",
        "pr.created",
        "attempt.succeeded",
    ]
    assert set(SEED_EVENTS) <= {e["event"]["type"] for e in timeline["events"]}
    (pull,) = stack.forge("/pulls", repo=JOB_REPO, state="all")
    files = {f["filename"] for f in stack.forge(f"/pulls/{pull['number']}/files", repo=JOB_REPO)}
    assert files == {"docs/engine-report.md", ".leviathan/backlog.yaml"}


def test_the_engine_container_held_no_token_and_saw_no_publisher_file(
    job_runs: list[ContainerRun], stack: Stack
) -> None:
    bare = Path(stack.env["LEVIATHAN_TIER_DIR"]) / "git" / f"{JOB_REPO}.git"
    safe = ("-c", "safe.directory=*")  # the forge's uid owns the repository
    refs = git(*safe, "for-each-ref", "--format=%(refname:short)", "refs/heads/agent", cwd=bare)
    (branch,) = refs.split()
    report = git(*safe, "show", f"{branch}:docs/engine-report.md", cwd=bare)
    assert "uid=10002" in report and "gid=10001" in report
    assert GITHUB_TOKEN not in report and TOKEN not in report
    assert "LEVIATHAN_CONTROL_PLANE" not in report
    for private in ("publisher", "state.json", "spool"):
        assert private not in report, f"the engine saw {private}"
    assert "backlog.yaml" in report and "target" in report  # it did see its own folder
    for run in job_runs:
        if run.name == "engine":
            assert GITHUB_TOKEN not in run.logs and TOKEN not in run.logs
