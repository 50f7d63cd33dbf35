"""The worker Job, built as a pure function of the target config and the message.

Pure so it can be validated offline against the Kubernetes schema and so a
duplicate delivery builds the very same Job (same name -> 409 -> done).
Kubernetes gets ``backoffLimit: 0`` because Leviathan counts attempts itself;
secrets only ever appear as ``secretKeyRef``.
"""

from __future__ import annotations

from typing import Final

from kubernetes import client

from leviathan_shared.config import AutonomyConfig
from leviathan_shared.constants import (
    LABEL_APP,
    LABEL_ATTEMPT,
    LABEL_TARGET,
    SECRET_CONTROL_PLANE,
    SECRET_CONTROL_PLANE_KEY,
    SECRET_GITHUB,
    SECRET_GITHUB_KEY,
    WORKER_APP_LABEL,
)
from leviathan_shared.executors.contract import (
    ENV_CONTROL_PLANE_TOKEN,
    ENV_GITHUB_TOKEN,
    WORKER_PROGRAM,
    attempt_environment,
    process_environment,
    worker_arguments,
)
from leviathan_shared.executors.naming import ANNOTATION_ATTEMPT_ID, job_name, label_value
from leviathan_shared.messages import DispatchMessage

__all__ = ["build_job", "job_name"]

CONFIG_MAP: Final = "leviathan-autonomy-config"
CONFIG_MOUNT: Final = "/etc/leviathan"
SERVICE_ACCOUNT: Final = "leviathan-worker"
TMP_DIR: Final = "/tmp"
HOME_DIR: Final = "/home/leviathan"
RUN_AS: Final = 10001
ANNOTATION_TASK_ID: Final = "leviathan.dev/task-id"
ANNOTATION_FENCE: Final = "leviathan.dev/fence"
RESOURCES: Final = client.V1ResourceRequirements(
    requests={"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
    limits={"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2Gi"},
)


def job_labels(config: AutonomyConfig, message: DispatchMessage) -> dict[str, str]:
    """The labels the runbook and the reconciler select on."""
    return {
        LABEL_APP: WORKER_APP_LABEL,
        LABEL_TARGET: label_value(config.target_id),
        LABEL_ATTEMPT: label_value(message.attempt_id),
    }


def _secret_env(name: str, secret: str, key: str) -> client.V1EnvVar:
    # optional: a missing secret lets the worker start and report missing_token,
    # instead of a pod stuck in CreateContainerConfigError until the deadline.
    ref = client.V1SecretKeySelector(name=secret, key=key, optional=True)
    return client.V1EnvVar(name=name, value_from=client.V1EnvVarSource(secret_key_ref=ref))


def _environment(
    config: AutonomyConfig, message: DispatchMessage, control_plane_url: str
) -> list[client.V1EnvVar]:
    plain = attempt_environment(message) | process_environment(
        config_path=f"{CONFIG_MOUNT}/",
        control_plane_url=control_plane_url,
        workspace_dir=config.workspace_dir,
    )
    plain |= {
        "HOME": HOME_DIR,
        "LEVIATHAN_DATA_DIR": f"{TMP_DIR}/leviathan-data",
        "LEVIATHAN_CACHE_DIR": f"{TMP_DIR}/leviathan-cache",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env = [client.V1EnvVar(name=key, value=value) for key, value in plain.items()]
    env.append(_secret_env(ENV_GITHUB_TOKEN, SECRET_GITHUB, SECRET_GITHUB_KEY))
    env.append(_secret_env(ENV_CONTROL_PLANE_TOKEN, SECRET_CONTROL_PLANE, SECRET_CONTROL_PLANE_KEY))
    return env


def _container(
    config: AutonomyConfig, message: DispatchMessage, image: str, control_plane_url: str
) -> client.V1Container:
    security = client.V1SecurityContext(
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=client.V1Capabilities(drop=["ALL"]),
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    )
    mounts = [
        client.V1VolumeMount(name="workspace", mount_path=config.workspace_dir),
        client.V1VolumeMount(name="tmp", mount_path=TMP_DIR),
        client.V1VolumeMount(name="home", mount_path=HOME_DIR),
        client.V1VolumeMount(name="config", mount_path=CONFIG_MOUNT, read_only=True),
    ]
    return client.V1Container(
        name="worker",
        image=image,
        image_pull_policy="IfNotPresent",
        command=[WORKER_PROGRAM],
        args=worker_arguments(message),
        env=_environment(config, message, control_plane_url),
        working_dir=config.workspace_dir,
        resources=RESOURCES,
        security_context=security,
        volume_mounts=mounts,
    )


def _volumes() -> list[client.V1Volume]:
    return [
        client.V1Volume(
            name="workspace", empty_dir=client.V1EmptyDirVolumeSource(size_limit="2Gi")
        ),
        client.V1Volume(name="tmp", empty_dir=client.V1EmptyDirVolumeSource(size_limit="512Mi")),
        client.V1Volume(name="home", empty_dir=client.V1EmptyDirVolumeSource(size_limit="64Mi")),
        client.V1Volume(name="config", config_map=client.V1ConfigMapVolumeSource(name=CONFIG_MAP)),
    ]


def build_job(
    config: AutonomyConfig,
    message: DispatchMessage,
    *,
    image: str | None = None,
    control_plane_url: str,
) -> client.V1Job:
    """The ``leviathan-worker-<attempt>`` Job for one attempt (DESIGN.md section 3)."""
    if message.target_id != config.target_id:
        raise ValueError(
            f"message for target {message.target_id!r} given the config of {config.target_id!r}"
        )
    labels = job_labels(config, message)
    annotations = {
        ANNOTATION_ATTEMPT_ID: message.attempt_id,
        ANNOTATION_TASK_ID: message.task_id,
        ANNOTATION_FENCE: str(message.fence),
    }
    pod_security = client.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        fs_group=RUN_AS,
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    )
    pod = client.V1PodSpec(
        restart_policy="Never",
        service_account_name=SERVICE_ACCOUNT,
        automount_service_account_token=False,
        enable_service_links=False,
        security_context=pod_security,
        containers=[_container(config, message, image or config.worker_image, control_plane_url)],
        volumes=_volumes(),
    )
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(
            name=job_name(message.attempt_id),
            namespace=config.worker_namespace,
            labels=labels,
            annotations=annotations,
        ),
        spec=client.V1JobSpec(
            backoff_limit=0,
            active_deadline_seconds=config.attempt_timeout_seconds,
            ttl_seconds_after_finished=config.job_ttl_seconds,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels, annotations=annotations),
                spec=pod,
            ),
        ),
    )
