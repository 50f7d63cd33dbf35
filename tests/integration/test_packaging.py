"""What each service installs: the layers hold at the package level too.

import-linter proves the control plane's code does not import a cluster,
GitHub or git client; this proves its image cannot contain one, by asking uv
what the locked install of each service package brings.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"kubernetes", "pygithub", "gitpython"}


def installed(package: str) -> set[str]:
    uv = shutil.which("uv")
    assert uv is not None, "uv is installed by `make install`"
    done = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--package", package],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    names = set()
    for line in done.stdout.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==", line)
        if match:
            names.add(match.group(1).lower().replace("_", "-"))
    return names


def test_the_control_plane_installs_no_cluster_github_or_git_client() -> None:
    names = installed("leviathan-control-plane")
    assert "fastapi" in names  # the export really lists the service's dependencies
    assert names & HEAVY == set()
    assert "jinja2" in names  # the dashboard's templates
    assert "selenium" not in names  # a test tool, never in the image


def test_the_control_plane_wheel_carries_the_dashboard_templates(tmp_path: Path) -> None:
    """The image installs the wheel, so the pages must be in it, not only in the tree."""
    uv = shutil.which("uv")
    assert uv is not None
    subprocess.run(
        [uv, "build", "--package", "leviathan-control-plane", "--wheel", "-o", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    source = ROOT / "services/control-plane/src"
    dashboard = source / "leviathan_control_plane/dashboard"
    wanted = {
        str(f.relative_to(source)) for f in dashboard.rglob("*") if f.suffix in (".html", ".css")
    }
    assert wanted and wanted <= names


@pytest.mark.parametrize(
    ("package", "needs"),
    [
        # PyJWT with cryptography: a GitHub App's RS256 JWT (PyGithub's AppAuth)
        ("leviathan-scheduler", {"kubernetes", "pygithub", "gitpython", "pyjwt", "cryptography"}),
        ("leviathan-dispatch", {"kubernetes"}),
        ("leviathan-worker", {"pygithub", "gitpython", "pyjwt", "cryptography"}),
    ],
)
def test_each_service_gets_the_clients_it_uses(package: str, needs: set[str]) -> None:
    assert needs <= installed(package)


def test_the_core_installs_no_io_library() -> None:
    names = installed("leviathan-core")
    assert "pydantic" in names
    assert names & (HEAVY | {"httpx", "redis", "celery", "kombu"}) == set()
