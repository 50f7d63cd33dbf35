"""Hostile change engines against the real worker: canaries, a leak scan, one verdict.

``Hostile`` runs an attack script as the ``command`` engine through the real
worker (in-process with the bubblewrap sandbox, hiding the worker's private
paths as ``leviathan-worker run`` does, or as the three ``prepare`` /
``engine`` / ``publish`` programs). The worker's environment holds distinctive
canary tokens, and bait files holding them sit where the engine must not
reach. ``Hostile.check`` then asserts the three things every attack must end
in:

1. no canary in any file under the test's folders (bait files excepted), in
   any git object there, in the worker's output, or in the unique /tmp and
   /dev/shm names the attack tried to exfiltrate into;
2. nothing out of scope on the remote: no agent branch, or one whose diff
   against main is exactly the allowed paths plus the backlog, matching the PR;
3. a documented end: ``✗ Attempt failed: <code>: …`` as the last line with a
   FailureReason code (and the same code in ``attempt.failed``), or a success.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from leviathan_adapters.forge.base import Forge
from leviathan_adapters.git_auth import REDACTED, basic_auth_header
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import BACKLOG_PATH
from leviathan_core.events import FailureReason
from leviathan_core.settings import Settings
from leviathan_worker import committing
from leviathan_worker.changeset import Limits
from leviathan_worker.cli import private_paths
from leviathan_worker.engines import make_engine
from leviathan_worker.engines.command import OUTPUT_PREFIX, CommandEngine
from leviathan_worker.sandbox import sandbox_unavailable
from tests.support.control_plane import ControlPlane, running_control_plane
from tests.support.gitrepo import git
from tests.support.worker_harness import BACKLOG, TASK, WorkerHarness, attempt_id_for

GITHUB_CANARY = "ghp_HOSTILE_CANARY_5e1d0c7b9a3f2468"
CP_CANARY = "lvcp_HOSTILE_CANARY_0f9e8d7c6b5a4132"
CANARIES = (GITHUB_CANARY, CP_CANARY)
# What a scan looks for: the tokens, their auth-header (base64) form, and the
# marker they share, so a cut or re-encoded copy is found too.
NEEDLES = (
    b"HOSTILE_CANARY",
    *(basic_auth_header(c).removeprefix("Authorization: Basic ").encode() for c in CANARIES),
)
FOLDER_TASK = "docs-folder"
HOSTILE_BACKLOG = (
    BACKLOG
    + """\
  - id: docs-folder
    title: Tidy the docs folder
    ready: true
    allowed_paths: [docs/]
"""
)
FILES = {
    "docs/README.md": "# Readme\n",
    "docs/guide.md": "# Guide\n",
    "src/app.py": "print('hi')\n",
}
EDIT = "echo '- a fixed link' >> docs/README.md"
RUN_DIR = Path("/var/tmp/leviathan-hostile")
PYTHON = "/usr/bin/python3"  # the worker's own python may live under a hidden HOME
SUCCESS = "success"
REASONS = frozenset(r.value for r in FailureReason)


@dataclass(frozen=True, slots=True)
class Outcome:
    code: int
    output: str
    attempt: str
    reason: str  # SUCCESS, or the failure's reason code

    @property
    def engine_lines(self) -> list[str]:
        """What the engine printed (the worker prefixes each of its lines)."""
        return [line for line in self.output.splitlines() if line.startswith(OUTPUT_PREFIX)]


def reason_of(code: int, output: str) -> str:
    """SUCCESS, or the code of the last line ``✗ Attempt failed: <code>: …``."""
    lines = output.strip().splitlines()
    last = lines[-1] if lines else ""
    if code == 0:
        return SUCCESS
    assert last.startswith("✗ Attempt failed: "), f"no failure line at the end:\n{output}"
    return last.removeprefix("✗ Attempt failed: ").split(":", 1)[0]


def contains_canary(data: bytes) -> bool:
    return any(needle in data for needle in NEEDLES)


def git_dirs(root: Path) -> Iterator[Path]:
    """Every git directory under ``root`` (bare remotes, clones' ``.git``)."""
    for folder, dirs, files in os.walk(root):
        if "HEAD" in files and "objects" in dirs and "refs" in dirs:
            yield Path(folder)


def git_objects(git_dir: Path) -> bytes:
    """Every object's content in ``git_dir`` (loose and packed, decompressed)."""
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
             "GIT_CONFIG_GLOBAL": os.devnull},
        check=False,
    )  # fmt: skip
    return done.stdout


def leaked_files(root: Path, skip: Sequence[Path] = ()) -> list[str]:
    """Files (and git objects) under ``root`` that hold a canary; ``skip``: the baits."""
    found: list[str] = []
    skipped = {str(p) for p in skip}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if path in skipped:
                continue
            with contextlib.suppress(OSError):
                info = os.lstat(path)
                if not os.path.isfile(path) or os.path.islink(path) or info.st_size > 64 << 20:
                    continue
                with open(path, "rb") as handle:
                    if contains_canary(handle.read()):
                        found.append(path)
    for git_dir in git_dirs(root):
        if contains_canary(git_objects(git_dir)):
            found.append(f"{git_dir} (git objects)")
    return found


class Hostile:
    """One worker, one target repository, and the canaries; run an attack, then check."""

    def __init__(self, root: Path, tmp_path: Path, cp: ControlPlane) -> None:
        self.root = root
        self.tmp_path = tmp_path
        self.harness = WorkerHarness(root, cp, backlog=HOSTILE_BACKLOG, files=dict(FILES))
        self.exfil = f"leviathan-hostile-{secrets.token_hex(6)}"  # names in /tmp, /dev/shm
        self.baits = self._plant_baits()
        self.limits: Limits | None = None

    def _plant_baits(self) -> list[Path]:
        """Canaries where only the worker may look: another attempt's publisher clone,
        the data dir, an env file. The engine must not be able to copy them."""
        baits = [
            self.harness.workspace / "attempt-other" / "publisher" / "token.txt",
            self.root / "data" / "spool" / "token.txt",
            self.root / "data" / ".leviathan-run" / "env",
        ]
        for bait in baits:
            bait.parent.mkdir(parents=True, exist_ok=True)
            bait.write_text(f"GITHUB_TOKEN={GITHUB_CANARY}\nCP={CP_CANARY}\n")
        return baits

    # ---- running -------------------------------------------------------------------
    def engine(
        self, script: str, *, pids_max: int | None = None, **config: object
    ) -> CommandEngine:
        """The command engine as ``leviathan-worker run`` builds it (private paths hidden)."""
        cfg = self.config(script, **config)
        settings = Settings(
            _env_file=None,
            data_dir=str(self.root / "data"),
            cache_dir=str(self.root / "cache"),
        )
        engine = make_engine(cfg, hidden=private_paths(settings, self.harness.workspace))
        assert isinstance(engine, CommandEngine)
        if pids_max is not None:
            engine.pids_max = pids_max
        return engine

    def config(self, script: str, **config: object) -> AutonomyConfig:
        """The target running ``script``; a hung attack ends in 30 s, not the default 600."""
        config.setdefault("change_command_timeout_seconds", 30)
        return self.harness.config(
            change_engine="command", change_command=["sh", "-c", script], **config
        )

    def run(
        self,
        script: str,
        *,
        task: str = TASK,
        pids_max: int | None = None,
        forge: Forge | None = None,
        **config: object,
    ) -> Outcome:
        """The attack as the command engine of one in-process attempt (``run``)."""
        attempt = attempt_id_for(task)
        engine = self.engine(script, pids_max=pids_max, **config)
        with self._limits():
            code, out = self.harness.run(
                attempt,
                task=task,
                config=self.config(script, **config),
                engine=engine,
                forge=forge,
                github_token=GITHUB_CANARY,
            )
        return Outcome(code, out, attempt, reason_of(code, out))

    @contextlib.contextmanager
    def _limits(self) -> Iterator[None]:
        if self.limits is None:
            yield
            return
        limits = self.limits
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(committing, "Limits", lambda: limits)
            yield

    def phases(self, script: str, *, task: str = TASK, **config: object) -> Outcome:
        """The attack in a Job's three programs: prepare, engine (no token), publish."""
        assert task == TASK, "run_cli runs the harness's default task"
        attempt = attempt_id_for(task)
        config.setdefault("change_command_timeout_seconds", 30)
        path = self.harness.write_config(
            change_engine="command", change_command=["sh", "-c", script], **config
        )
        env = {
            "LEVIATHAN_WORKSPACE_DIR": str(self.harness.workspace),
            "GITHUB_TOKEN": GITHUB_CANARY,
        }
        secret_names = ("LEVIATHAN_CONTROL_PLANE_TOKEN", "GITHUB_TOKEN", "LEVIATHAN_CREATED_EVENT")
        output = ""
        code = 1
        for phase in ("prepare", "engine", "publish"):
            drop = secret_names if phase == "engine" else ()
            done = self.harness.run_cli(
                attempt, command=phase, config_path=path, env=env, drop=drop
            )
            output += done.stdout + done.stderr
            code = done.returncode
            if phase == "prepare" and code != 0:
                break
        last = done.stdout
        return Outcome(code, output, attempt, reason_of(code, last))

    # ---- the verdict ---------------------------------------------------------------
    def agent_branches(self) -> list[str]:
        return [b for b in self.harness.remote_branches() if b.startswith("agent/")]

    def exfil_paths(self) -> list[Path]:
        """Whatever the attack left under its unique names in /tmp, /dev/shm, /var/tmp."""
        folders = (Path("/tmp"), Path("/dev/shm"), Path("/var/tmp"))
        return [p for d in folders for p in d.glob(f"{self.exfil}*")]

    def check(
        self,
        outcome: Outcome,
        expect: str | set[str],
        paths: Sequence[str] = ("docs/README.md",),
    ) -> None:
        """The three assertions: no canary anywhere, nothing out of scope pushed, a
        documented end (``expect``: SUCCESS and/or reason codes)."""
        expected = {expect} if isinstance(expect, str) else expect
        assert expected <= REASONS | {SUCCESS}, expected
        # (3) a documented end
        assert outcome.reason in expected, outcome.output
        assert "Traceback" not in outcome.output, outcome.output
        events = self.harness.timeline(outcome.attempt)["events"]
        last = events[-1]["event"]
        if outcome.reason == SUCCESS:
            assert last["type"] == "attempt.succeeded", outcome.output
        else:
            assert outcome.reason in REASONS, outcome.output
            assert last["type"] == "attempt.failed", outcome.output
            assert last["payload"]["reason"] == outcome.reason
        # (2) nothing out of scope on the remote
        branches = self.agent_branches()
        if outcome.reason == SUCCESS:
            assert len(branches) == 1, branches
            expected_paths = sorted({*paths, BACKLOG_PATH})
            assert self.harness.diff_names(branches[0]) == expected_paths
            (pr,) = self.harness.local_forge().open_agent_prs()
            assert sorted(self.harness.local_forge().pull_request_files(pr.number)) == (
                expected_paths
            )
        else:
            assert branches == [], branches
            assert self.harness.local_forge().open_agent_prs() == []
        # (1) no canary anywhere the attack could have put it
        for canary in CANARIES:
            assert canary not in outcome.output
        assert not [line for line in outcome.engine_lines if REDACTED in line], outcome.output
        leaks = leaked_files(self.root, self.baits) + leaked_files(self.tmp_path)
        assert leaks == [], leaks
        # The sandbox's /tmp and /dev are its own: a name of the attack's on the
        # host's means code of the engine's ran outside it (a filter, a hook).
        assert self.exfil_paths() == [], [
            (p, p.read_bytes()[:200] if p.is_file() else b"") for p in self.exfil_paths()
        ]

    def spy(self) -> str:
        """Shell that installs ``.git/evil/spy``: a program that, if anything but the
        engine ever ran it, would leave its environment (and its parent's) under the
        attack's unique name in the host's /tmp. It passes its input through."""
        marker = f"/tmp/{self.exfil}-spy"
        body = (
            f"#!/bin/sh\\nenv >> {marker}\\n"
            f"tr '\\\\0' '\\\\n' < /proc/$PPID/environ >> {marker} 2>/dev/null\\ncat\\n"
        )
        return f"mkdir -p .git/evil && printf '{body}' > .git/evil/spy && chmod +x .git/evil/spy"

    def pushed(self, path: str) -> bytes:
        """A file's content on the attempt's pushed branch."""
        (branch,) = self.agent_branches()
        done = subprocess.run(
            ["git", "show", f"{branch}:{path}"], cwd=self.harness.bare, capture_output=True,
            check=True,
        )  # fmt: skip
        return done.stdout

    def pushed_mode(self, path: str) -> str:
        (branch,) = self.agent_branches()
        return git("ls-tree", branch, "--", path, cwd=self.harness.bare).split()[0]

    def cleanup(self) -> None:
        for path in self.exfil_paths():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    """A worker whose environment and control plane hold the canaries.

    The attempt's folders live under /var/tmp, not /tmp: the sandbox's private
    /tmp would hide a /tmp layout anyway, which would make the hidden paths moot.
    The control plane (another service in production) keeps its files in /tmp.
    """
    if reason := sandbox_unavailable():
        pytest.skip(f"no sandbox here: {reason} (run scripts/install-system-deps.sh)")
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_CANARY)
    monkeypatch.setenv("LEVIATHAN_CONTROL_PLANE_TOKEN", CP_CANARY)
    # As with the local executor: every attempt's folder lies in ``.leviathan-run``
    # under the worker's working directory, which the sandbox hides (tests running
    # in parallel are other attempts on the same machine).
    (RUN_DIR / ".leviathan-run").mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(RUN_DIR)
    root = Path(tempfile.mkdtemp(prefix="attempt-", dir=RUN_DIR / ".leviathan-run")).resolve()
    try:
        with running_control_plane(tmp_path / "cp", token=CP_CANARY) as cp:
            attack = Hostile(root, tmp_path, cp)
            try:
                yield attack
            finally:
                attack.cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)
