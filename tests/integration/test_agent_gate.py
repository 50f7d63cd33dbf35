"""The quality gate drives the agent's repair turns, end to end.

The real worker (clone, engine, gate, publish) against a bare repository, the
control plane and LocalForge; the real ``agent`` engine (the openai client in the
bubblewrap sandbox) on the scripted endpoint; a ``verify_command`` that fails until
docs/x.md has a Usage section. The gate's output must reach the model as quoted
data on the repair turn, and the PR body must say how the gate ended and what the
engine reported.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.control_plane import ControlPlane, control_plane  # noqa: F401
from tests.support.gitrepo import git
from tests.support.openai_fake import MODEL, FakeOpenAI, call, running
from tests.support.worker_harness import WorkerHarness, attempt_id_for

from leviathan_worker.engines import make_engine
from leviathan_worker.sandbox import sandbox_unavailable

KEY = "sk-GATE-AGENT-CANARY-90be11"
KEY_ENV = "LEVIATHAN_TEST_AGENT_KEY"
TASK = "write-x"
ATTEMPT = attempt_id_for(TASK)
BACKLOG = """\
tasks:
  - id: write-x
    title: Write the x page
    description: Explain what x is and how to use it.
    ready: true
    status: pending
    scope: docs
    allowed_paths: [docs/x.md]
    acceptance_criteria:
      - docs/x.md has a Usage section
"""
# The system's interpreter: the sandbox hides HOME, where a virtualenv's may live.
PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
CHECK = (
    "import pathlib, sys\n"
    "text = pathlib.Path('docs/x.md').read_text()\n"
    "if 'Usage' not in text:\n"
    "    print('docs/x.md: no Usage section (GATE-7f3)')\n"
    "    sys.exit(1)\n"
    "print('docs/x.md has a Usage section')\n"
)
FIRST = "# X\n\nx is the letter after w.\n"
FIXED = FIRST + "\n## Usage\n\nWrite x where a w would be too early.\n"


@pytest.fixture(autouse=True)
def _sandbox_here() -> None:
    if reason := sandbox_unavailable():
        pytest.skip(f"no sandbox here: {reason} (run scripts/install-system-deps.sh)")
    if PYTHON is None:
        pytest.skip("no python3 on the system's PATH for the gate")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with running() as server:
        yield server


@pytest.fixture
def harness(
    control_plane: ControlPlane,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WorkerHarness]:
    """Under /var/tmp: the sandbox's private /tmp would hide a /tmp workspace anyway."""
    monkeypatch.setenv(KEY_ENV, KEY)
    root = Path(tempfile.mkdtemp(prefix="leviathan-agent-gate-", dir="/var/tmp")).resolve()
    yield WorkerHarness(root, control_plane, backlog=BACKLOG, files={"docs/README.md": "# R\n"})
    shutil.rmtree(root, ignore_errors=True)


def run(harness: WorkerHarness, fake: FakeOpenAI, **overrides: Any) -> tuple[int, str]:
    """One attempt: the agent engine and the gate; (exit code, console output)."""
    assert PYTHON is not None
    config = harness.config(
        change_engine="agent",
        agent_base_url=fake.base_url,
        agent_model=MODEL,
        agent_api_key_env=KEY_ENV,
        engine_network=[fake.endpoint],
        verify_command=[PYTHON, "-c", CHECK],
        **overrides,
    )
    engine = make_engine(config, hidden=[harness.workspace, Path.home()])
    code, out = harness.run(ATTEMPT, task=TASK, config=config, engine=engine)
    assert_no_key(harness, fake, out)
    return code, out


def assert_no_key(harness: WorkerHarness, fake: FakeOpenAI, out: str) -> None:
    assert KEY not in out and KEY not in fake.contents()
    for path in harness.tmp.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert KEY.encode() not in path.read_bytes(), path


def pr_bodies(harness: WorkerHarness) -> list[str]:
    if not (harness.forge_dir / "pulls.sqlite3").exists():
        return []
    with sqlite3.connect(harness.forge_dir / "pulls.sqlite3") as db:
        return [row[0] for row in db.execute("SELECT body FROM pulls ORDER BY number")]


def quoted_feedback(fake: FakeOpenAI, index: int) -> str:
    """The gate's feedback in request ``index``: the last message, a user one, between
    the conversation's data markers (whose nonce is in the system message)."""
    messages = fake.requests[index].messages
    nonce = messages[0]["content"].split("<<<data ", 1)[1].split()[0]
    feedback = messages[-1]
    assert feedback["role"] == "user" and "The checks failed" in feedback["content"]
    opening, closing = f"<<<data {nonce} check output>>>\n", f"\n<<<end data {nonce}>>>"
    content: str = feedback["content"]
    assert content.count(opening) == 1 and content.count(closing) == 1
    return content.split(opening, 1)[1].split(closing, 1)[0]


def test_the_gate_output_drives_a_repair_and_the_pr_shows_it(
    harness: WorkerHarness, fake: FakeOpenAI
) -> None:
    fake.then(
        call("write_file", path="docs/x.md", content=FIRST),
        call("finish", summary="Wrote docs/x.md."),
        call("write_file", path="docs/x.md", content=FIXED),
        call("finish", summary="Added the Usage section the gate asked for."),
    )
    code, out = run(harness, fake)

    assert code == 0, out
    assert out.count("Running quality gate:") == 2
    assert "Asking the agent engine to repair (turn 1 of 2)" in out
    assert "Repairing the agent: fake-model" in out
    assert len(fake.requests) == 4
    # The repair turn resumes the conversation with the gate's output, quoted as data.
    first_run = fake.requests[1].messages
    assert fake.requests[2].messages[: len(first_run)] == first_run
    quoted = quoted_feedback(fake, 2)
    assert quoted.startswith("The quality gate failed.\nCommand: ")
    assert "Result: exit status 1" in quoted
    assert "docs/x.md: no Usage section (GATE-7f3)" in quoted
    # The fixed page is what was pushed, with the backlog's bookkeeping and nothing else.
    branch = f"agent/agent-{ATTEMPT}"
    assert harness.diff_names(branch) == [".leviathan/backlog.yaml", "docs/x.md"]
    assert git("show", f"{branch}:docs/x.md", cwd=harness.bare) == FIXED.strip()
    [body] = pr_bodies(harness)
    assert f"- [x] Quality gate passed: `{PYTHON} -c " in body
    assert "- **Result:** ✅ passed (run 2, after 1 repair turn(s) by the engine)" in body
    assert "docs/x.md has a Usage section" in body
    assert "## Engine report" in body and f"- **Model:** `{MODEL}`" in body
    assert "- **Tokens:** 400 prompt + 80 completion = 480 total, in 4 turn(s)" in body
    assert "Added the Usage section the gate asked for." in body


def test_an_agent_that_never_fixes_it_runs_out_of_repairs(
    harness: WorkerHarness, fake: FakeOpenAI
) -> None:
    fake.then(
        call("write_file", path="docs/x.md", content=FIRST),
        call("finish", summary="Wrote docs/x.md."),
    )
    fake.default = call("finish", summary="It is fine as it is.")
    code, out = run(harness, fake, verify_repair_turns=2)

    assert code == 1
    assert out.count("Running quality gate:") == 3
    assert "Asking the agent engine to repair (turn 2 of 2)" in out
    assert len(fake.requests) == 4  # the first run's two turns, one per repair
    for index in (2, 3):
        assert "docs/x.md: no Usage section (GATE-7f3)" in quoted_feedback(fake, index)
    last = out.strip().splitlines()[-1]
    assert last.startswith("✗ Attempt failed: checks_failed: the verify command `")
    assert "after 2 repair turn(s)" in last and "no Usage section" in last
    failed = harness.timeline(ATTEMPT)["events"][-1]["event"]
    assert failed["type"] == "attempt.failed"
    assert failed["payload"]["reason"] == "checks_failed"
    assert "after 2 repair turn(s)" in failed["payload"]["message"]
    assert harness.remote_branches() == ["main"] and pr_bodies(harness) == []
