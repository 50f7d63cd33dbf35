"""A private Docker engine for the container tier, and the images it builds.

The tier never touches another daemon: it starts its own ``dockerd`` on a socket
in a fresh folder, talks to it through ``DOCKER_HOST``, and stops it by its pid.
Docker Compose v2 comes from ``.tools/docker-config`` (``scripts/docker/install.sh``).
Where no registry answers, the two public base images are replaced by local
stand-ins (``scripts/docker/stand-in-images.sh``) before anything is built.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS_CONFIG = REPO / ".tools" / "docker-config"


@dataclass(frozen=True)
class Image:
    """One image the repository builds: tag, Dockerfile and optional target stage."""

    tag: str
    dockerfile: str
    target: str | None = None


IMAGES = (
    Image("leviathan-control-plane:local", "ops/docker/control-plane.Dockerfile"),
    Image("leviathan-scheduler:local", "ops/docker/scheduler.Dockerfile"),
    Image("leviathan-dispatcher:local", "ops/docker/dispatcher.Dockerfile"),
    Image("leviathan-dispatcher:compose", "ops/docker/dispatcher.Dockerfile", "local"),
    Image("leviathan-worker:local", "ops/docker/worker.Dockerfile"),
)
FORGE_IMAGE = "leviathan-tier-forge:local"
# What the forge container needs of the test sources (see forge.Dockerfile).
FORGE_SOURCES = (
    "tests/__init__.py",
    "tests/support/__init__.py",
    "tests/support/github_fake.py",
    "tests/support/github_fake_issues.py",
    "tests/support/github_app_fake.py",
    "tests/support/github_habit_routes.py",
    "tests/support/github_shapes.py",
    "tests/support/git_http.py",
    "tests/docker/__init__.py",
    "tests/docker/forge_app.py",
)


class EngineError(RuntimeError):
    """The engine could not be started, or a docker command failed."""


@dataclass
class Engine:
    """A running private ``dockerd`` and the environment that reaches it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 600,
        stdin: bytes | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command (``docker ...``) against this engine; output is captured."""
        done = subprocess.run(
            list(args),
            env={**self.env, **(extra_env or {})},
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=REPO,
        )
        if check and done.returncode != 0:
            raise EngineError(
                f"{' '.join(args)}: exit {done.returncode}\n{done.stdout[-3000:]}"
                f"\n{done.stderr[-3000:]}"
            )
        return done

    def docker(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run("docker", *args, **kwargs)  # type: ignore[arg-type]


def start_engine() -> Engine:
    """Start ``dockerd`` in a fresh folder (short path: the socket name is limited).

    ``LEVIATHAN_TIER_DOCKER_HOST`` names a daemon to reuse instead (a developer's
    private one, for quick reruns with warm build caches); it is never stopped.
    """
    reuse = os.environ.get("LEVIATHAN_TIER_DOCKER_HOST")
    if reuse:
        env = {**os.environ, "DOCKER_HOST": reuse, "DOCKER_CONFIG": str(TOOLS_CONFIG)}
        return Engine(Path(tempfile.mkdtemp(prefix="lev-dockerd-")), env, None)
    if shutil.which("dockerd") is None:
        raise EngineError("no dockerd: run scripts/docker/install.sh (make e2e-docker does)")
    root = Path(tempfile.mkdtemp(prefix="lev-dockerd-"))
    sock = root / "docker.sock"
    log = (root / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            "dockerd",
            "--host",
            f"unix://{sock}",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "docker.pid"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{sock}",
        "DOCKER_CONFIG": str(TOOLS_CONFIG),
    }
    engine = Engine(root, env, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if engine.docker("version", check=False, timeout=10).returncode == 0:
            return engine
        time.sleep(0.5)
    stop_engine(engine)
    raise EngineError(f"dockerd did not start:\n{(root / 'dockerd.log').read_text()[-3000:]}")


def stop_engine(engine: Engine) -> None:
    """SIGTERM our daemon (it stops its containerd), SIGKILL after 30 s, then clean up."""
    process = engine.process
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    subprocess.run(["umount", "-R", str(engine.root / "exec")], capture_output=True, check=False)
    shutil.rmtree(engine.root, ignore_errors=True)


def build_command(engine: Engine) -> tuple[list[str], dict[str, str]]:
    """``docker build`` with BuildKit where the client has it, else the classic builder.

    Debian's docker.io client (20.10) carries BuildKit itself; newer clients need the
    buildx plugin for it. Both builders take the Dockerfiles (no registry frontend).
    """
    if engine.docker("buildx", "version", check=False).returncode == 0:
        return ["docker", "build"], {"DOCKER_BUILDKIT": "1"}
    if Path("/usr/bin/docker").exists():
        probe = engine.run("/usr/bin/docker", "version", "--format", "{{.Client.Version}}")
        if probe.stdout.startswith("20."):
            return ["/usr/bin/docker", "build"], {"DOCKER_BUILDKIT": "1"}
    return ["docker", "build"], {"DOCKER_BUILDKIT": "0"}


def ensure_base_images(engine: Engine) -> None:
    engine.run("bash", str(REPO / "scripts/docker/stand-in-images.sh"), timeout=1200)


def build_image(engine: Engine, image: Image, context: Path = REPO) -> float:
    """Build one image from the repository; returns the wall time in seconds."""
    argv, env = build_command(engine)
    target = ["--target", image.target] if image.target else []
    started = time.monotonic()
    engine.run(
        *argv,
        "-f",
        str(REPO / image.dockerfile),
        *target,
        "-t",
        image.tag,
        str(context),
        timeout=1200,
        extra_env=env,
    )
    return time.monotonic() - started


def build_forge(engine: Engine) -> None:
    """The forge image: the control-plane image plus git and the fake's sources."""
    with tempfile.TemporaryDirectory() as tmp:
        for source in FORGE_SOURCES:
            target = Path(tmp) / source
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / source, target)
        build_image(engine, Image(FORGE_IMAGE, "tests/docker/forge.Dockerfile"), Path(tmp))


def image_size_mb(engine: Engine, tag: str) -> float:
    size = engine.docker("image", "inspect", "--format", "{{.Size}}", tag).stdout
    return int(size.strip()) / 1_000_000
