"""The seed's runbook files: ops/k8s/*.yaml stay equal to the rendered CronJob overlay.

The seed applies ``ops/k8s/control-plane.yaml`` and then
``ops/k8s/scheduler/dev-autonomy.yaml`` with ``kubectl apply -f``; deploy/k8s is
the source and ``scripts/render_k8s.py`` writes the two files. Together they are
the CronJob overlay, object for object, so both apply paths deploy the same thing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.support.k8s_objects import Obj, render

from leviathan_core.config import load_config

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "render_k8s.py"
REGENERATE = ".venv/bin/python scripts/render_k8s.py"
CONTROL_PLANE = "ops/k8s/control-plane.yaml"
SCHEDULER = "ops/k8s/scheduler/dev-autonomy.yaml"
SEED_ATTEMPT_TIMEOUT_SECONDS = 900


@pytest.fixture(scope="module")
def cronjob_mode() -> list[Obj]:
    return render(REPO / "deploy" / "k8s", ["overlays/cronjob"])["overlays/cronjob"]


def objects(relative: str) -> list[Obj]:
    path = REPO / relative
    assert path.is_file(), f"{relative} is missing: run `{REGENERATE}`"
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_the_seed_files_are_the_rendered_cronjob_overlay(cronjob_mode: list[Obj]) -> None:
    expected = {
        CONTROL_PLANE: [o for o in cronjob_mode if o["kind"] != "CronJob"],
        SCHEDULER: [o for o in cronjob_mode if o["kind"] == "CronJob"],
    }
    for relative, objs in expected.items():
        assert objects(relative) == objs, (
            f"{relative} differs from `kubectl kustomize deploy/k8s/overlays/cronjob`: "
            f"run `{REGENERATE}` and commit the result"
        )


def test_the_scheduler_file_holds_only_the_seed_cronjob() -> None:
    (cron,) = objects(SCHEDULER)
    assert (cron["kind"], cron["metadata"]["name"]) == ("CronJob", "leviathan-dev-scheduler")
    assert cron["metadata"]["namespace"] == "leviathan"  # `kubectl get cronjobs -n leviathan`


def test_the_control_plane_file_creates_the_namespace_first_and_runs_no_scheduler() -> None:
    objs = objects(CONTROL_PLANE)
    assert (objs[0]["kind"], objs[0]["metadata"]["name"]) == ("Namespace", "leviathan")
    assert all(o["metadata"]["namespace"] == "leviathan" for o in objs[1:])
    # Beat beside the CronJob would fire every tick twice.
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert ("Deployment", "leviathan-scheduler-beat") not in names
    assert not [o for o in objs if o["kind"] == "CronJob"]
    assert ("Deployment", "leviathan-scheduler-worker") in names  # runs the ticks' cycles


def test_the_generator_reports_stale_files_and_how_to_fix_them(tmp_path: Path) -> None:
    def generate(*flags: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, str(SCRIPT), "--root", str(tmp_path), *flags]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    missing = generate("--check")
    assert missing.returncode == 1
    for relative in (CONTROL_PLANE, SCHEDULER):
        assert f"{relative} differs" in missing.stdout
    assert REGENERATE in missing.stdout
    assert generate().returncode == 0
    assert generate("--check").returncode == 0
    (tmp_path / SCHEDULER).write_text((tmp_path / SCHEDULER).read_text() + "# hand edit\n")
    assert generate("--check").stdout.strip().startswith(SCHEDULER)


def test_the_seed_configuration_keeps_the_seed_attempt_timeout() -> None:
    config = load_config(REPO / "ops" / "autonomy" / "dev.yaml")
    assert config.attempt_timeout_seconds == SEED_ATTEMPT_TIMEOUT_SECONDS, (
        "ops/autonomy/dev.yaml is the seed's file: keep its attempt_timeout_seconds (900); "
        "raise it in your own target file"
    )
