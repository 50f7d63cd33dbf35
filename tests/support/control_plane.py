"""Run the control plane for tests: in-process under real uvicorn, or as a subprocess.

Other tests import the fixtures (``from tests.support.control_plane import
control_plane``) or the context manager ``running_control_plane``. Both yield
a ``ControlPlane(url, token)``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from leviathan_control_plane.app import create_app
from leviathan_control_plane.settings import ControlPlaneSettings
from tests.support.postgres import require_postgres, throwaway_database
from tests.support.servers import UvicornThread, free_port

TEST_TOKEN = "test-token"


class ControlPlane(NamedTuple):
    url: str
    token: str


def settings_for(
    directory: Path,
    *,
    database_url: str | None = None,
    token: str = TEST_TOKEN,
    config: Path | None = None,
    **overrides: Any,
) -> ControlPlaneSettings:
    """Explicit settings, so variables in the test runner's environment cannot leak in."""
    return ControlPlaneSettings(
        control_plane_token=token,
        database_url=database_url,
        data_dir=str(directory),
        config=str(config) if config else None,
        **overrides,
    )


@contextmanager
def running_control_plane(
    directory: Path,
    *,
    database_url: str | None = None,
    token: str = TEST_TOKEN,
    config: Path | None = None,
    port: int | None = None,
    **overrides: Any,
) -> Iterator[ControlPlane]:
    """The app under real uvicorn on a free port; SQLite under ``directory`` by default."""
    settings = settings_for(
        directory, database_url=database_url, token=token, config=config, **overrides
    )
    with UvicornThread(create_app(settings), port=port) as server:
        yield ControlPlane(server.url, token)


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    """A control plane on a fresh SQLite file."""
    with running_control_plane(tmp_path / "cp") as cp:
        yield cp


@pytest.fixture
def control_plane_pg(tmp_path: Path) -> Iterator[ControlPlane]:
    """A control plane on a fresh throwaway PostgreSQL database (skips without one)."""
    require_postgres()
    with (
        throwaway_database() as url,
        running_control_plane(tmp_path / "cp", database_url=url) as cp,
    ):
        yield cp


class ControlPlaneProcess:
    """``leviathan-control-plane serve`` as a real subprocess that can be killed."""

    def __init__(
        self,
        directory: Path,
        *,
        database_url: str | None = None,
        token: str = TEST_TOKEN,
        port: int | None = None,
    ) -> None:
        self.directory, self.token = directory, token
        self.port = port or free_port()
        self.env = {
            **os.environ,
            "LEVIATHAN_CONTROL_PLANE_TOKEN": token,
            "LEVIATHAN_DATA_DIR": str(directory),
            "LEVIATHAN_LOG_LEVEL": "WARNING",
        }
        self.env.pop("LEVIATHAN_CONFIG", None)
        if database_url:
            self.env["LEVIATHAN_DATABASE_URL"] = database_url
        else:
            self.env.pop("LEVIATHAN_DATABASE_URL", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = directory / "control-plane.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ControlPlane:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "leviathan_control_plane.main",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"control plane exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return ControlPlane(self.url, self.token)
            except httpx.TransportError:
                time.sleep(0.1)
        raise TimeoutError(f"control plane did not answer on {self.url}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run, as in a crash."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
