"""Pick the executor a target's configuration asks for.

The dispatcher (which starts runs) and the reconciler (which inspects and
deletes them) both call this, so they always look in the same place.
The Kubernetes client is imported only for ``executor: kubernetes``: its
models take a third of a second to load, which ``leviathan status`` on a
local target should not pay.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from leviathan_shared.config import AutonomyConfig, Settings
from leviathan_shared.executors.base import Executor
from leviathan_shared.executors.contract import (
    ENV_CONFIG,
    ENV_CONTROL_PLANE_TOKEN,
    ENV_CONTROL_PLANE_URL,
    ENV_GITHUB_TOKEN,
)
from leviathan_shared.executors.local import LocalExecutor

if TYPE_CHECKING:
    from leviathan_shared.executors.kubernetes import JobBuilder


def local_worker_environment(config: AutonomyConfig, settings: Settings) -> dict[str, str]:
    """What a local worker needs beyond the attempt: config, control plane, secrets, dirs.

    Paths are made absolute so the worker does not depend on the dispatcher's
    working directory; secrets come from the settings because they may have
    been read from an env file rather than the process environment.
    """
    env = {
        ENV_CONFIG: str(Path(settings.config).resolve()),
        ENV_CONTROL_PLANE_URL: settings.control_plane_for(config),
        "LEVIATHAN_DATA_DIR": str(Path(settings.data_dir).resolve()),
        "LEVIATHAN_CACHE_DIR": str(Path(settings.cache_dir).resolve()),
    }
    if settings.github_token is not None:
        env[ENV_GITHUB_TOKEN] = settings.github_token.get_secret_value()
    if settings.control_plane_token is not None:
        env[ENV_CONTROL_PLANE_TOKEN] = settings.control_plane_token.get_secret_value()
    return env


def make_executor(
    config: AutonomyConfig, settings: Settings, *, job_builder: JobBuilder | None = None
) -> Executor:
    """A Kubernetes executor for ``executor: kubernetes``, else a local one.

    Raises ``ExecutorUnavailable`` when Kubernetes credentials cannot be found.
    """
    if config.executor == "kubernetes":
        from leviathan_shared.executors.kubernetes import KubernetesExecutor, load_batch_api

        api = load_batch_api()
        return KubernetesExecutor(config.worker_namespace, api, job_builder=job_builder)
    run_dir = Path(settings.data_dir).resolve() / "runs"
    return LocalExecutor(run_dir, env=local_worker_environment(config, settings))
