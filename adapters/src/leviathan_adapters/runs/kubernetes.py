"""Worker Jobs read and deleted through the official ``kubernetes`` client.

Kubernetes owns Job truth: a read that answers 404 means the Job is gone.
Every other API or network failure becomes ``ExecutorUnavailable`` so callers
fail closed instead of guessing. Creating Jobs is the dispatcher's alone
(``leviathan_dispatch.executors``); the reconciler only inspects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from leviathan_core.constants import LABEL_APP, LABEL_ATTEMPT, LABEL_TARGET, WORKER_APP_LABEL
from leviathan_core.job_naming import ANNOTATION_ATTEMPT_ID, job_name, label_value
from leviathan_core.runs import ExecutorRejected, ExecutorUnavailable, RunStatus

REQUEST_TIMEOUT: Final = (5.0, 30.0)  # connect, read (seconds)
LIST_PAGE: Final = 200
# Answers that will not change on a retry: the request itself is wrong or forbidden.
PERMANENT_STATUSES: Final = frozenset({400, 401, 403, 422})


def _api_message(exc: ApiException) -> str:
    """The ``message`` of a Kubernetes Status body, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "no reason given")


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn client and transport errors into the executor's own exceptions."""
    try:
        yield
    except ApiException as exc:
        text = f"Kubernetes API {action}: HTTP {exc.status}: {_api_message(exc)}"
        if exc.status in PERMANENT_STATUSES:
            raise ExecutorRejected(text) from exc
        raise ExecutorUnavailable(text) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ExecutorUnavailable(f"Kubernetes API {action}: unreachable: {exc}") from exc


def job_run_status(attempt_id: str, job: client.V1Job) -> RunStatus:
    """Map a Job's status to a run state (pure; terminal conditions first)."""
    status = job.status or client.V1JobStatus()
    for condition in status.conditions or []:
        if condition.status != "True":
            continue
        detail = ": ".join(x for x in (condition.reason, condition.message) if x)
        if condition.type in ("Complete", "SuccessCriteriaMet"):
            return RunStatus(attempt_id=attempt_id, state="succeeded", detail=detail)
        if condition.type in ("Failed", "FailureTarget"):
            return RunStatus(attempt_id=attempt_id, state="failed", detail=detail)
    if job.metadata is not None and job.metadata.deletion_timestamp is not None:
        return RunStatus(attempt_id=attempt_id, state="missing", detail="Job is being deleted")
    if status.succeeded:
        return RunStatus(attempt_id=attempt_id, state="succeeded", detail="pod succeeded")
    if status.failed:
        return RunStatus(attempt_id=attempt_id, state="failed", detail="pod failed")
    if status.active:
        return RunStatus(attempt_id=attempt_id, state="running", detail=f"{status.active} active")
    return RunStatus(attempt_id=attempt_id, state="pending", detail="no pod running yet")


def _attempt_of(job: client.V1Job) -> str:
    meta = job.metadata or client.V1ObjectMeta()
    annotated = (meta.annotations or {}).get(ANNOTATION_ATTEMPT_ID)
    return str(annotated or (meta.labels or {}).get(LABEL_ATTEMPT) or meta.name)


class KubernetesRuns:
    """Inspect and delete worker Jobs in one namespace."""

    def __init__(self, namespace: str, api: client.BatchV1Api) -> None:
        self.namespace = namespace
        self.api = api

    def status(self, attempt_id: str) -> RunStatus:
        name = job_name(attempt_id)
        with translated(f"read Job {name}"):
            try:
                job = self.api.read_namespaced_job(
                    name, self.namespace, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as exc:
                if exc.status == 404:
                    detail = f"no Job {name}"
                    return RunStatus(attempt_id=attempt_id, state="missing", detail=detail)
                raise
        return job_run_status(attempt_id, job)

    def delete(self, attempt_id: str) -> None:
        name = job_name(attempt_id)
        with translated(f"delete Job {name}"):
            try:
                self.api.delete_namespaced_job(
                    name,
                    self.namespace,
                    propagation_policy="Background",
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def list_attempt_jobs(self, target_id: str) -> list[RunStatus]:
        """Every worker Job of a target (all pages), as run statuses keyed by attempt id."""
        selector = f"{LABEL_APP}={WORKER_APP_LABEL},{LABEL_TARGET}={label_value(target_id)}"
        found: list[RunStatus] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"label_selector": selector, "limit": LIST_PAGE}
            if token:
                kwargs["_continue"] = token
            with translated(f"list Jobs of target {target_id}"):
                page = self.api.list_namespaced_job(
                    self.namespace, _request_timeout=REQUEST_TIMEOUT, **kwargs
                )
            found += [job_run_status(_attempt_of(job), job) for job in page.items]
            token = page.metadata._continue if page.metadata else None
            if not token:
                return found


def load_batch_api() -> client.BatchV1Api:
    """A BatchV1Api from the in-cluster service account, else from the kubeconfig.

    The configuration object is private to the returned client; the library's
    global default is left alone.
    """
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException:
        kubeconfig = os.environ.get("KUBECONFIG") or "~/.kube/config"
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration, persist_config=False
            )
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            raise ExecutorUnavailable(
                "no Kubernetes credentials: not running in a cluster (no service account) and "
                f"no usable kubeconfig at {kubeconfig} ({exc}); set KUBECONFIG or use "
                "'executor: local' in the target configuration"
            ) from exc
    return client.BatchV1Api(client.ApiClient(configuration))
