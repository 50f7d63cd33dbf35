"""The container tier's session: a private Docker engine with every image built.

Run with ``make e2e-docker`` (it installs the engine and Compose first). The engine
is started once per session, the stand-in base images are made or reused, every
image is built from the repository, and the daemon is stopped by its pid at the
end. Build times and image sizes are printed in the terminal summary.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.docker.engine import (
    FORGE_IMAGE,
    IMAGES,
    Engine,
    build_forge,
    build_image,
    ensure_base_images,
    image_size_mb,
    start_engine,
    stop_engine,
)
from tests.docker.stack import Stack, start_stack

REPORT: dict[str, str] = {}
# Repositories beside the compose demo target, served by the same forge.
JOB_REPO = "acme/jobdemo"
JOB_BACKLOG = """\
tasks:
  - id: engine-report
    title: Report what the engine container sees
    ready: true
    allowed_paths: [docs/engine-report.md]
    acceptance_criteria: [docs/engine-report.md holds the report]
"""


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    started = time.monotonic()
    engine = start_engine()
    try:
        ensure_base_images(engine)
        REPORT["base images ready"] = f"{time.monotonic() - started:.0f} s"
        for image in IMAGES:
            seconds = build_image(engine, image)
            size = image_size_mb(engine, image.tag)
            REPORT[image.tag] = f"built in {seconds:.0f} s, {size:.0f} MB"
        build_forge(engine)
        REPORT[FORGE_IMAGE] = f"{image_size_mb(engine, FORGE_IMAGE):.0f} MB (test forge)"
        yield engine
    finally:
        stop_engine(engine)


@pytest.fixture(scope="session")
def stack(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The compose stack, up once for the session and taken down with ``down -v``."""
    started = time.monotonic()
    stack = start_stack(engine, tmp_path_factory.mktemp("tier"), {JOB_REPO: JOB_BACKLOG})
    REPORT["compose up --wait"] = f"{time.monotonic() - started:.0f} s"
    try:
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", check=False, timeout=300)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("container tier")
        for name, value in REPORT.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """A failing test of the running stack prints every container's last log lines."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.failed and call.when == "call" and stack is not None:
        report.sections.append(("compose logs (last 80 lines each)", stack.logs()))
    return report
