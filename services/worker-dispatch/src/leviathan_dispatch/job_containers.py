"""The worker pod's three containers and their volumes (the Job itself is in job_spec).

One attempt runs as three phases of the same image, one after the other:
``prepare`` and ``publish`` hold the tokens; ``engine`` runs the untrusted change
engine under another uid, with none of their secrets in its environment or
volumes and only the engine's tree (its own emptyDir) shared with the others.
Its one secret is the ``agent`` engine's model key, by ``secretKeyRef``, which
no other container gets. Init containers run
strictly in order and never beside each other, so no token-holding process is
alive while the engine runs.
"""

from __future__ import annotations

from typing import Final

from kubernetes import client

from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import (
    SECRET_CONTROL_PLANE,
    SECRET_CONTROL_PLANE_KEY,
    SECRET_GITHUB,
    SECRET_GITHUB_APP_KEYS,
    SECRET_GITHUB_KEY,
)
from leviathan_core.job_contract import (
    ENV_CONFIG,
    ENV_CONTROL_PLANE_TOKEN,
    ENV_GITHUB_TOKEN,
    ENV_WORKSPACE_DIR,
    PHASE_ENGINE,
    WORKER_PROGRAM,
    Phase,
    attempt_dir,
    attempt_environment,
    engine_dir,
    phase_arguments,
    process_environment,
)
from leviathan_core.messages import DispatchMessage

CONFIG_MAP: Final = "leviathan-autonomy-config"
CONFIG_MOUNT: Final = "/etc/leviathan"
TMP_DIR: Final = "/tmp"
HOME_DIR: Final = "/home/leviathan"
PUBLISHER_UID: Final = 10001
ENGINE_UID: Final = 10002
# The engine shares only this group with the publisher: fsGroup makes the engine
# volume group-writable, and prepare leaves the copied tree group-writable.
SHARED_GID: Final = 10001

VOLUME_WORKSPACE: Final = "workspace"
VOLUME_ENGINE: Final = "engine"
VOLUME_CONFIG: Final = "config"

# Init containers run one at a time, so the scheduler reserves the largest of
# them or the sum of the regular containers, whichever is more: the engine's
# larger share is not added to the publisher's.
PUBLISHER_RESOURCES: Final = client.V1ResourceRequirements(
    requests={"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
    limits={"cpu": "1", "memory": "1Gi", "ephemeral-storage": "4Gi"},
)
ENGINE_RESOURCES: Final = client.V1ResourceRequirements(
    requests={"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "256Mi"},
    limits={"cpu": "2", "memory": "2Gi", "ephemeral-storage": "4Gi"},
)


def _security(uid: int) -> client.V1SecurityContext:
    return client.V1SecurityContext(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=SHARED_GID,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=client.V1Capabilities(drop=["ALL"]),
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    )


def _secret_env(name: str, secret: str, key: str) -> client.V1EnvVar:
    # optional: a missing secret lets the worker start and report missing_token (or
    # the agent's "API key is not set", engine_failed), instead of a pod stuck in
    # CreateContainerConfigError until the deadline.
    ref = client.V1SecretKeySelector(name=secret, key=key, optional=True)
    return client.V1EnvVar(name=name, value_from=client.V1EnvVarSource(secret_key_ref=ref))


def _plain(values: dict[str, str]) -> list[client.V1EnvVar]:
    local = {
        "HOME": HOME_DIR,
        "TMPDIR": TMP_DIR,
        "LEVIATHAN_DATA_DIR": f"{TMP_DIR}/leviathan-data",
        "LEVIATHAN_CACHE_DIR": f"{TMP_DIR}/leviathan-cache",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return [client.V1EnvVar(name=key, value=value) for key, value in (values | local).items()]


def _config_mount() -> client.V1VolumeMount:
    return client.V1VolumeMount(name=VOLUME_CONFIG, mount_path=CONFIG_MOUNT, read_only=True)


def publisher_container(
    config: AutonomyConfig,
    message: DispatchMessage,
    *,
    phase: Phase,
    image: str,
    control_plane_url: str,
) -> client.V1Container:
    """``prepare`` or ``publish``: the tokens, the attempt's private dir and the engine tree.

    The workspace volume is mounted at the attempt's dir, not at ``workspace_dir``:
    the runtime would create that dir as root (0755) to hold the nested engine
    mount, and the phases could not write their clone and state beside it.
    """
    env = _plain(
        attempt_environment(message)
        | process_environment(
            config_path=f"{CONFIG_MOUNT}/",
            control_plane_url=control_plane_url,
            workspace_dir=config.workspace_dir,
        )
    )
    env.append(_secret_env(ENV_GITHUB_TOKEN, SECRET_GITHUB, SECRET_GITHUB_KEY))
    env.extend(_secret_env(n, SECRET_GITHUB, k) for n, k in SECRET_GITHUB_APP_KEYS.items())
    env.append(_secret_env(ENV_CONTROL_PLANE_TOKEN, SECRET_CONTROL_PLANE, SECRET_CONTROL_PLANE_KEY))
    workspace, attempt = config.workspace_dir, message.attempt_id
    mounts = [
        client.V1VolumeMount(name=VOLUME_WORKSPACE, mount_path=attempt_dir(workspace, attempt)),
        client.V1VolumeMount(name=VOLUME_ENGINE, mount_path=engine_dir(workspace, attempt)),
        client.V1VolumeMount(name="tmp", mount_path=TMP_DIR),
        client.V1VolumeMount(name="home", mount_path=HOME_DIR),
        _config_mount(),
    ]
    return _container(phase, image, message, env, mounts, workspace, PUBLISHER_UID)


def engine_container(
    config: AutonomyConfig, message: DispatchMessage, *, image: str
) -> client.V1Container:
    """``engine``: no token, no control plane, only the engine tree, its own tmp and HOME.

    For ``change_engine: agent`` the model's key, and nothing else secret, as the
    variable the worker reads it from (``agent_api_key_env``).
    """
    tree = engine_dir(config.workspace_dir, message.attempt_id)
    env = _plain(
        attempt_environment(message)
        | {ENV_CONFIG: f"{CONFIG_MOUNT}/", ENV_WORKSPACE_DIR: config.workspace_dir}
    )
    if config.change_engine == "agent":
        # The config refuses a name the worker's own variables use, so this adds one.
        env.append(
            _secret_env(
                config.agent_api_key_env,
                config.agent_api_key_secret,
                config.agent_api_key_secret_key,
            )
        )
    mounts = [
        client.V1VolumeMount(name=VOLUME_ENGINE, mount_path=tree),
        client.V1VolumeMount(name="engine-tmp", mount_path=TMP_DIR),
        client.V1VolumeMount(name="engine-home", mount_path=HOME_DIR),
        _config_mount(),
    ]
    return _container(PHASE_ENGINE, image, message, env, mounts, tree, ENGINE_UID)


def _container(
    phase: Phase,
    image: str,
    message: DispatchMessage,
    env: list[client.V1EnvVar],
    mounts: list[client.V1VolumeMount],
    working_dir: str,
    uid: int,
) -> client.V1Container:
    return client.V1Container(
        name=phase,
        image=image,
        image_pull_policy="IfNotPresent",
        command=[WORKER_PROGRAM],
        args=phase_arguments(message, phase),
        env=env,
        working_dir=working_dir,
        resources=ENGINE_RESOURCES if phase == PHASE_ENGINE else PUBLISHER_RESOURCES,
        security_context=_security(uid),
        volume_mounts=mounts,
    )


def _empty_dir(name: str, size: str) -> client.V1Volume:
    return client.V1Volume(name=name, empty_dir=client.V1EmptyDirVolumeSource(size_limit=size))


def volumes() -> list[client.V1Volume]:
    """emptyDirs for every writable place (the engine's apart) and the ConfigMap."""
    return [
        _empty_dir(VOLUME_WORKSPACE, "2Gi"),
        _empty_dir(VOLUME_ENGINE, "2Gi"),
        _empty_dir("tmp", "512Mi"),
        _empty_dir("home", "64Mi"),
        _empty_dir("engine-tmp", "512Mi"),
        _empty_dir("engine-home", "64Mi"),
        client.V1Volume(
            name=VOLUME_CONFIG, config_map=client.V1ConfigMapVolumeSource(name=CONFIG_MAP)
        ),
    ]
