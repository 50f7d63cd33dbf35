"""Start worker runs as Kubernetes Jobs built by ``job_spec.build_job``.

A create that answers 409 means an earlier delivery of the same message
already made the Job: that is success, not an error. Reading and deleting
Jobs is shared with the reconciler (``leviathan_adapters.runs.kubernetes``).
"""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from leviathan_adapters.runs.kubernetes import REQUEST_TIMEOUT, KubernetesRuns, translated
from leviathan_core.config import AutonomyConfig
from leviathan_core.job_naming import job_name
from leviathan_core.messages import DispatchMessage
from leviathan_dispatch.job_spec import build_job


class KubernetesExecutor(KubernetesRuns):
    """Create, inspect and delete one target's worker Jobs in its namespace."""

    def __init__(
        self,
        namespace: str,
        api: client.BatchV1Api,
        config: AutonomyConfig,
        *,
        control_plane_url: str | None = None,
    ) -> None:
        super().__init__(namespace, api)
        self.config = config
        # Where the Job's pods reach the control plane: the file's address by
        # default (the cluster's view), which may differ from the dispatcher's own.
        self.control_plane_url = control_plane_url or config.control_plane_url

    def start(self, message: DispatchMessage) -> bool:
        body = build_job(self.config, message, control_plane_url=self.control_plane_url)
        with translated(f"create Job {job_name(message.attempt_id)}"):
            try:
                self.api.create_namespaced_job(
                    self.namespace, body, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as exc:
                if exc.status == 409:  # an earlier delivery created it
                    return False
                raise
        return True
