"""Every image, run: its console scripts answer ``--help`` and every module its
entry points can load imports, inside the container (``smoke_image.py``).

The container runs the way compose and the manifests run it: the image's own
non-root user, a read-only root, no capabilities, no new privileges. Extra
commands per image are the ones its deployments start, with ``--help``, plus the
real thing where it is cheap (the control plane's migrations on a scratch SQLite).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.docker.engine import IMAGES, Engine

SMOKE = (Path(__file__).parent / "smoke_image.py").read_bytes()
CELERY = ["celery", "-A", "leviathan_scheduler.celery_app"]
EXTRA: dict[str, list[list[str]]] = {
    "leviathan-control-plane:local": [
        ["env", "LEVIATHAN_DATABASE_URL=sqlite:////tmp/s.db", "leviathan-control-plane", "migrate"],
    ],
    "leviathan-scheduler:local": [
        ["git", "--version"],
        [*CELERY, "beat", "--help"],
        [*CELERY, "worker", "--help"],
        [*CELERY, "flower", "--help"],
        [*CELERY, "inspect", "--help"],
        [*CELERY, "purge", "--help"],
        ["leviathan", "tick", "--help"],
    ],
    "leviathan-dispatcher:local": [],
    "leviathan-dispatcher:compose": [["git", "--version"]],
    "leviathan-worker:local": [["git", "--version"], ["leviathan-worker", "run", "--help"]],
}
# The console scripts each image must ship (what compose, the manifests and Jobs run).
SCRIPTS = {
    "leviathan-control-plane:local": {"leviathan-control-plane"},
    "leviathan-scheduler:local": {"leviathan"},
    "leviathan-dispatcher:local": {"leviathan-dispatcher"},
    "leviathan-dispatcher:compose": {"leviathan-dispatcher", "leviathan-worker"},
    "leviathan-worker:local": {"leviathan-worker"},
}


@pytest.mark.parametrize("tag", [image.tag for image in IMAGES])
def test_image_runs_its_entry_points(engine: Engine, tag: str) -> None:
    done = engine.docker(
        "run",
        "--rm",
        "-i",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        # What compose and the manifests give every service: the Celery apps refuse to
        # start without a broker (nothing here connects to it).
        "-e",
        "LEVIATHAN_REDIS_URL=redis://redis:6379/0",
        tag,
        "python",
        "-",
        json.dumps(EXTRA[tag]),
        stdin=SMOKE,
        timeout=600,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    failures = "\n\n".join(f"{f['what']}\n{f['error']}" for f in report["failed"])
    assert report["failed"] == [], failures
    helps = {c.removesuffix(" --help") for c in report["checked"] if c.endswith(" --help")}
    assert SCRIPTS[tag] <= helps, f"{tag}: scripts checked {sorted(helps)}"
    assert any(c.startswith("import leviathan_core") for c in report["checked"])


@pytest.mark.parametrize("tag", [image.tag for image in IMAGES])
def test_image_runs_as_non_root(engine: Engine, tag: str) -> None:
    user = engine.docker("image", "inspect", "--format", "{{.Config.User}}", tag).stdout.strip()
    assert user and user.split(":")[0] not in ("root", "0"), f"{tag}: USER {user!r}"
    uid = engine.docker("run", "--rm", tag, "id", "-u").stdout.strip()
    assert uid == "10001"
