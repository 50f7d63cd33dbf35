"""The demo target that ``make run`` operates on: a bare repository with a backlog.

Created once under the run directory and reused, so a second ``make run``
continues where the first stopped (its PRs and attempt counts included).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

DEMO_BACKLOG = """\
# The demo target's backlog: two tasks are eligible (getting-started-guide, then faq-page);
# max_open_prs 1 lets one run at a time, so faq-page waits until the first PR is merged.
tasks:
  - id: getting-started-guide
    title: Write a getting-started guide
    ready: true
    status: pending
    scope: docs
    priority: high
    allowed_paths: [docs/getting-started.md]
    acceptance_criteria:
      - docs/getting-started.md explains how to install and run the project
      - No other file changes
  - id: faq-page
    title: Start an FAQ page
    ready: true
    scope: docs
    allowed_paths: [docs/faq.md]
    acceptance_criteria:
      - docs/faq.md answers the three most common questions
  - id: refactor-parser
    title: Refactor the parser
    ready: true
    scope: code
    allowed_paths: [src/parser.py]
  - id: architecture-notes
    title: Architecture notes
    ready: false
    scope: docs
    allowed_paths: [docs/architecture.md]
  - id: api-reference
    title: API reference
    ready: true
    scope: docs
    allowed_paths: [docs/api/]
    dependencies: [getting-started-guide]
"""

DEMO_FILES = {
    "README.md": "# demo\n\nA small project that Leviathan operates on.\n",
    "docs/index.md": "# Documentation\n",
    "src/parser.py": "def parse(text: str) -> list[str]:\n    return text.split()\n",
    ".leviathan/backlog.yaml": DEMO_BACKLOG,
}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


def ensure_demo_repo(root: Path) -> Path:
    """Return the bare repository ``root/origin.git``, creating it on first use."""
    bare = root / "origin.git"
    if (bare / "HEAD").exists():
        return bare
    root.mkdir(parents=True, exist_ok=True)
    git("init", "--bare", "--initial-branch=main", str(bare), cwd=root)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        work = Path(tmp)
        git("init", "--initial-branch=main", cwd=work)
        for name, text in DEMO_FILES.items():
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=work)
        git(
            "-c",
            "user.name=Leviathan Demo",
            "-c",
            "user.email=demo@leviathan.invalid",
            "commit",
            "-m",
            "Demo target",
            cwd=work,
        )
        git("push", str(bare), "main:main", cwd=work)
    return bare
