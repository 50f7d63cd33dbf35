"""The worker Job, built as a pure function of the target config and the message.

Pure so it can be validated offline against the Kubernetes schema and so a
duplicate delivery builds the very same Job (same name -> 409 -> done).
Kubernetes gets ``backoffLimit: 0`` because Leviathan counts attempts itself;
secrets only ever appear as ``secretKeyRef``, and only in the containers that
hold them (job_containers.py: the change engine runs in one that holds none).
"""

from __future__ import annotations

from typing import Final

from kubernetes import client

from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import LABEL_APP, LABEL_ATTEMPT, LABEL_TARGET, WORKER_APP_LABEL
from leviathan_core.job_contract import PHASE_ENGINE, PHASE_PREPARE, PHASE_PUBLISH, Phase
from leviathan_core.job_naming import ANNOTATION_ATTEMPT_ID, job_name, label_value
from leviathan_core.messages import DispatchMessage
from leviathan_dispatch.job_containers import (
    PUBLISHER_UID,
    SHARED_GID,
    engine_container,
    publisher_container,
    volumes,
)

__all__ = ["build_job", "job_name"]

SERVICE_ACCOUNT: Final = "leviathan-worker"
ANNOTATION_TASK_ID: Final = "leviathan.dev/task-id"
ANNOTATION_FENCE: Final = "leviathan.dev/fence"
# On the pod: which containers run untrusted code, and the endpoints the target
# lets its engine reach. A NetworkPolicy selects pods, not containers, so an
# egress policy built from this list opens them to the whole pod.
ANNOTATION_UNTRUSTED: Final = "leviathan.dev/untrusted-containers"
ANNOTATION_ENGINE_NETWORK: Final = "leviathan.dev/engine-network"


def job_labels(config: AutonomyConfig, message: DispatchMessage) -> dict[str, str]:
    """The labels the runbook and the reconciler select on."""
    return {
        LABEL_APP: WORKER_APP_LABEL,
        LABEL_TARGET: label_value(config.target_id),
        LABEL_ATTEMPT: label_value(message.attempt_id),
    }


def _pod(
    config: AutonomyConfig, message: DispatchMessage, image: str, control_plane_url: str
) -> client.V1PodSpec:
    """prepare -> engine as init containers, publish as the container.

    A failing init container fails the pod and so the Job (``backoffLimit: 0``),
    which the reconciler already reads as a failed run.
    """

    def publisher(phase: Phase) -> client.V1Container:
        return publisher_container(
            config, message, phase=phase, image=image, control_plane_url=control_plane_url
        )

    security = client.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=PUBLISHER_UID,
        run_as_group=SHARED_GID,
        fs_group=SHARED_GID,
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    )
    return client.V1PodSpec(
        restart_policy="Never",
        service_account_name=SERVICE_ACCOUNT,
        automount_service_account_token=False,
        enable_service_links=False,
        share_process_namespace=False,
        security_context=security,
        init_containers=[publisher(PHASE_PREPARE), engine_container(config, message, image=image)],
        containers=[publisher(PHASE_PUBLISH)],
        volumes=volumes(),
    )


def build_job(
    config: AutonomyConfig,
    message: DispatchMessage,
    *,
    image: str | None = None,
    control_plane_url: str,
) -> client.V1Job:
    """The ``leviathan-worker-<attempt>`` Job of one attempt; docs/dispatcher.md describes it."""
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
    pod_annotations = annotations | {ANNOTATION_UNTRUSTED: PHASE_ENGINE}
    if config.engine_network:
        pod_annotations[ANNOTATION_ENGINE_NETWORK] = ",".join(config.engine_network)
    pod = _pod(config, message, image or config.worker_image, control_plane_url)
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
                metadata=client.V1ObjectMeta(labels=labels, annotations=pod_annotations),
                spec=pod,
            ),
        ),
    )
