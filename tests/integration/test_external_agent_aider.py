"""Aider, the real program, as the command engine: the recipe of docs/external-agents.md.

The recipe's ``change_command`` and the prompt helper are read from the page
itself, so the page cannot drift from what runs here. The test adapts only
what it must: the scripted endpoint's URL and model, the installed paths of
aider and the helper, and ``--no-stream`` (the endpoint answers whole
replies). Aider is installed once, outside HOME and /tmp (which the sandbox
hides or empties; see ``tools_dir``), with a Python from outside them too.

The endpoint answers in aider's "whole" edit format: the file's path on a
line, then a fenced block with its full content.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.support.control_plane import ControlPlane, control_plane  # noqa: F401
from tests.support.gitrepo import git
from tests.support.openai_fake import MODEL, FakeOpenAI, final, running
from tests.support.worker_harness import WorkerHarness, attempt_id_for

from leviathan_core.constants import BACKLOG_PATH
from leviathan_worker.engines import make_engine
from leviathan_worker.sandbox import sandbox_unavailable

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "external-agents.md"


def tools_dir() -> Path:
    """Where aider is installed: the repository's ``.tools/aider``, unless the
    repository lies under HOME or /tmp (a CI clone in /tmp, say), which the
    sandbox hides or empties; then ``$LEVIATHAN_TOOL_CACHE`` (default
    /var/cache/leviathan-tools), as the worker image would install it outside both."""
    local = ROOT / ".tools" / "aider"
    hidden = (Path.home().resolve(), Path("/tmp"))
    if not any(local.resolve().is_relative_to(h) for h in hidden):
        return local
    return Path(os.environ.get("LEVIATHAN_TOOL_CACHE", "/var/cache/leviathan-tools")) / "aider"


TOOLS = tools_dir()
TASK = "write-x"
BACKLOG = """\
tasks:
  - id: write-x
    title: Write the x page
    ready: true
    status: pending
    scope: docs
    allowed_paths: [docs/x.md]
    acceptance_criteria:
      - docs/x.md explains x
"""
PAGE = "# X\n\nx is the letter after w.\n"
WHOLE_EDIT = f"docs/x.md\n```\n{PAGE}```\n"
# What the recipe names, replaced by this test's endpoint.
RECIPE_MODEL = "openai/qwen2.5-coder"
RECIPE_URL = "http://models.internal:8000/v1"
RECIPE_ENDPOINT = "models.internal:8000"
INSTALL_TIMEOUT = 900


# ---- the page --------------------------------------------------------------------
def section(title: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", text, re.M | re.S)
    assert match, f"no section {title!r} in {DOCS}"
    return match.group(1)


def fenced(text: str, language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert match, f"no {language} block"
    # The page indents blocks inside list items.
    lines = match.group(1).splitlines(keepends=True)
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "".join(line[indent:] for line in lines)


def recipe() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(fenced(section("Aider"), "yaml"))
    return data


def pinned_version() -> str:
    match = re.search(r'"aider-chat==([0-9.]+)"', section("Aider"))
    assert match, "the Aider recipe pins no version"
    return match.group(1)


# ---- the install -----------------------------------------------------------------
def sandbox_python() -> str | None:
    """A Python aider supports (3.10 to 3.12) that the sandbox can run: not under HOME
    (hidden) or /tmp (empty), as the venv only links to it."""
    hidden = (Path.home().resolve(), Path("/tmp"))
    for version in ("3.12", "3.11", "3.10"):
        for folder in ("/usr/local/bin", "/usr/bin"):
            candidate = Path(folder) / f"python{version}"
            real = candidate.resolve()
            if candidate.is_file() and not any(real.is_relative_to(h) for h in hidden):
                return str(candidate)
    return None


def index_unreachable() -> str | None:
    url = os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL")
    url = url or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/"
    try:
        httpx.head(url, timeout=10, follow_redirects=True)
    except httpx.HTTPError as exc:
        return f"the package index {url} is unreachable ({exc})"
    return None


def install(version: str) -> Path:
    """``<TOOLS>/bin/aider`` at ``version``, installed once and kept between runs."""
    marker = TOOLS / ".installed"
    aider = TOOLS / "bin" / "aider"
    TOOLS.parent.mkdir(parents=True, exist_ok=True)
    with open(TOOLS.parent / "aider.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel runs install once
        if marker.is_file() and marker.read_text() == version and aider.is_file():
            return aider
        uv = shutil.which("uv")
        python = sandbox_python()
        if uv is None:
            pytest.skip("no uv to install aider with")
        if python is None:
            pytest.skip("no Python 3.10-3.12 outside HOME and /tmp for the sandbox to run")
        shutil.rmtree(TOOLS, ignore_errors=True)
        steps = (
            [uv, "venv", "--quiet", "--python", python, str(TOOLS)],
            [uv, "pip", "install", "--quiet", "--python", str(TOOLS / "bin" / "python"),
             f"aider-chat=={version}"],
        )  # fmt: skip
        for step in steps:
            done = subprocess.run(
                step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
            if done.returncode != 0:
                shutil.rmtree(TOOLS, ignore_errors=True)
                if reason := index_unreachable():
                    pytest.skip(f"cannot install aider: {reason}")
                pytest.fail(f"{shlex.join(step)} failed:\n{done.stdout}{done.stderr}")
        marker.write_text(version)
    return aider


@pytest.fixture(scope="module")
def aider() -> Path:
    if reason := sandbox_unavailable():
        pytest.skip(f"no sandbox here: {reason} (run scripts/install-system-deps.sh)")
    return install(pinned_version())


@pytest.fixture(scope="module")
def prompt_helper(aider: Path) -> list[str]:
    """The page's ``leviathan-task-prompt``, run by aider's interpreter (the sandbox
    hides the one ``python3`` on PATH may name)."""
    helper = TOOLS / "leviathan-task-prompt"
    helper.write_text(fenced(section("A shared helper: the task as a prompt"), "python"))
    return [str(aider.with_name("python")), str(helper)]


# ---- the attempt -----------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with running() as server:
        yield server


@pytest.fixture
def harness(tmp_path: Path, control_plane: ControlPlane) -> WorkerHarness:  # noqa: F811
    files = {"docs/README.md": "# Readme\n", "src/app.py": "print('app')\n"}
    return WorkerHarness(tmp_path, control_plane, backlog=BACKLOG, files=files)


def adapted(script: str, fake: FakeOpenAI, aider: Path, helper: list[str]) -> str:
    """The recipe's shell line pointed at this test's endpoint and install."""
    swaps = {
        "leviathan-task-prompt": shlex.join(helper),
        "exec aider ": f"exec {shlex.quote(str(aider))} ",
        RECIPE_URL: fake.base_url,
        RECIPE_MODEL: f"openai/{MODEL}",
    }
    for old, new in swaps.items():
        assert old in script, f"the recipe no longer has {old!r}: {script}"
        script = script.replace(old, new)
    return script + " --no-stream"


def run(
    harness: WorkerHarness, fake: FakeOpenAI, aider: Path, helper: list[str], drop: str = ""
) -> tuple[int, str, str]:
    """One attempt running the recipe (minus ``drop``); (exit code, output, attempt id)."""
    data = recipe()
    assert data["change_engine"] == "command"
    assert data["engine_network"] == [RECIPE_ENDPOINT]
    shell, flag, script = data["change_command"]
    assert (shell, flag) == ("sh", "-c")
    script = adapted(script, fake, aider, helper)
    if drop:
        assert drop in script
        script = script.replace(drop, "")
    config = harness.config(
        change_engine="command",
        change_command=[shell, flag, script],
        engine_network=[fake.endpoint],
        change_command_timeout_seconds=120,
    )
    engine = make_engine(config, hidden=[harness.workspace, Path.home()])
    attempt = attempt_id_for(TASK)
    code, out = harness.run(attempt, task=TASK, config=config, engine=engine)
    return code, out, attempt


def last_event(harness: WorkerHarness, attempt: str) -> dict[str, Any]:
    event: dict[str, Any] = harness.timeline(attempt)["events"][-1]["event"]
    return event


def test_aider_recipe_writes_the_page_and_nothing_else(
    harness: WorkerHarness, fake: FakeOpenAI, aider: Path, prompt_helper: list[str]
) -> None:
    fake.then(final(WHOLE_EDIT))
    fake.default = final("Done.")
    code, out, attempt = run(harness, fake, aider, prompt_helper)

    assert code == 0, out
    assert last_event(harness, attempt)["type"] == "attempt.succeeded"
    (branch,) = [b for b in harness.remote_branches() if b.startswith("agent/")]
    changed = sorted([BACKLOG_PATH, "docs/x.md"])
    assert harness.diff_names(branch) == changed, out
    assert git("show", f"{branch}:docs/x.md", cwd=harness.bare) + "\n" == PAGE
    assert not [f for f in harness.remote_files(branch) if ".aider" in f]
    (pr,) = harness.local_forge().open_agent_prs()
    assert sorted(harness.local_forge().pull_request_files(pr.number)) == changed
    # Aider asked the endpoint, and only it: the helper's prompt, the placeholder key.
    assert fake.requests, out
    first = fake.requests[0]
    assert first.headers["authorization"] == "Bearer unused"
    assert first.body["model"] == MODEL
    prompt = fake.contents()
    assert "Task write-x: Write the x page" in prompt and "docs/x.md explains x" in prompt
    assert "raw.githubusercontent.com" not in out, out  # no download was tried


def test_without_no_gitignore_the_attempt_is_a_scope_violation(
    harness: WorkerHarness, fake: FakeOpenAI, aider: Path, prompt_helper: list[str]
) -> None:
    """Why the recipe needs ``--no-gitignore``: aider adds ``.aider*`` to .gitignore."""
    fake.then(final(WHOLE_EDIT))
    fake.default = final("Done.")
    code, out, attempt = run(harness, fake, aider, prompt_helper, drop=" --no-gitignore")

    assert code != 0, out
    event = last_event(harness, attempt)
    assert event["type"] == "attempt.failed"
    assert event["payload"]["reason"] == "scope_violation", out
    assert ".gitignore" in out, out
    assert [b for b in harness.remote_branches() if b.startswith("agent/")] == []
