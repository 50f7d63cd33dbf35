"""Pick the executor a target's configuration asks for, to start its runs.

It reads runs where ``leviathan_adapters.runs.factory`` tells the reconciler
to look, so a run the dispatcher starts is the run the reconciler inspects.
"""

from __future__ import annotations

from pathlib import Path

from leviathan_adapters.runs.factory import local_run_dir
from leviathan_core.config import AutonomyConfig
from leviathan_core.github_auth import (
    ENV_APP_ID,
    ENV_APP_INSTALLATION,
    ENV_APP_KEY,
    ENV_APP_KEY_FILE,
)
from leviathan_core.job_contract import (
    ENV_CONFIG,
    ENV_CONTROL_PLANE_TOKEN,
    ENV_CONTROL_PLANE_URL,
    ENV_GITHUB_TOKEN,
)
from leviathan_core.settings import Settings
from leviathan_dispatch.executors.base import Executor
from leviathan_dispatch.executors.local import LocalExecutor


def local_worker_environment(config: AutonomyConfig, settings: Settings) -> dict[str, str]:
    """What a local worker needs beyond the attempt: config, control plane, secrets, dirs.

    Paths are made absolute so the worker does not depend on the dispatcher's
    working directory; secrets come from the settings because they may have
    been read from an env file rather than the process environment.
    """
    env = {
        ENV_CONFIG: str(Path(settings.config_path()).resolve()),
        ENV_CONTROL_PLANE_URL: settings.control_plane_for(config),
        "LEVIATHAN_DATA_DIR": str(Path(settings.data_dir).resolve()),
        "LEVIATHAN_CACHE_DIR": str(Path(settings.cache_dir).resolve()),
    }
    if settings.github_token is not None:
        env[ENV_GITHUB_TOKEN] = settings.github_token.get_secret_value()
    env.update(github_app_environment(settings))
    if settings.control_plane_token is not None:
        env[ENV_CONTROL_PLANE_TOKEN] = settings.control_plane_token.get_secret_value()
    return env


def github_app_environment(settings: Settings) -> dict[str, str]:
    """The dispatcher's GitHub App, passed on as is (a key file by its absolute path)."""
    env: dict[str, str] = {}
    if settings.github_app_id is not None:
        env[ENV_APP_ID] = str(settings.github_app_id)
    if settings.github_app_private_key is not None:
        env[ENV_APP_KEY] = settings.github_app_private_key.get_secret_value()
    if settings.github_app_private_key_file:
        env[ENV_APP_KEY_FILE] = str(Path(settings.github_app_private_key_file).resolve())
    if settings.github_app_installation_id is not None:
        env[ENV_APP_INSTALLATION] = str(settings.github_app_installation_id)
    return env


def make_executor(
    config: AutonomyConfig, settings: Settings, *, control_plane_url: str | None = None
) -> Executor:
    """A Kubernetes executor for ``executor: kubernetes``, else a local one.

    ``control_plane_url`` is where Jobs reach the control plane (default: the
    target file's address). Raises ``ExecutorUnavailable`` without Kubernetes
    credentials.
    """
    if config.executor == "kubernetes":
        from leviathan_adapters.runs.kubernetes import load_batch_api
        from leviathan_dispatch.executors.kubernetes import KubernetesExecutor

        api = load_batch_api()
        return KubernetesExecutor(
            config.worker_namespace, api, config, control_plane_url=control_plane_url
        )
    return LocalExecutor(local_run_dir(settings), env=local_worker_environment(config, settings))
