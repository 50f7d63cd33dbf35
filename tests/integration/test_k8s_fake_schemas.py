"""The Kubernetes fake stores and serves only objects the Kubernetes schema allows."""

from __future__ import annotations

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tests.support.k8s_fake import KubernetesFake, status_body
from tests.support.k8s_objects import SchemaViolation, schema_problems

NAMESPACE = "leviathan"


def job(name: str) -> client.V1Job:
    container = client.V1Container(name="worker", image="leviathan-worker:dev", command=["true"])
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "leviathan-worker"}),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "leviathan-worker"}),
                spec=client.V1PodSpec(restart_policy="Never", containers=[container]),
            ),
        ),
    )


def test_every_answer_in_a_jobs_life_is_schema_valid() -> None:
    with KubernetesFake() as k8s:
        api = k8s.batch_api()
        api.create_namespaced_job(NAMESPACE, job("attempt-a"))
        api.create_namespaced_job(NAMESPACE, job("attempt-b"))
        k8s.start_job(NAMESPACE, "attempt-a", log="hello")
        k8s.finish_job(NAMESPACE, "attempt-a", succeeded=False, message="exit 1")
        k8s.set_job_status(NAMESPACE, "attempt-b", active=1, ready=0)
        status = api.read_namespaced_job_status("attempt-a", NAMESPACE).status
        assert status is not None and status.failed == 1
        page = api.list_namespaced_job(NAMESPACE, label_selector="app=leviathan-worker", limit=1)
        assert page.metadata is not None and page.metadata._continue
        core = client.CoreV1Api(api.api_client)
        assert len(core.list_namespaced_pod(NAMESPACE, label_selector="job-name").items) == 1
        with pytest.raises(ApiException) as missing:
            api.read_namespaced_job("attempt-none", NAMESPACE)
        assert missing.value.status == 404
        api.delete_namespaced_job("attempt-a", NAMESPACE, propagation_policy="Background")
        k8s.inject_error(429)
        with pytest.raises(ApiException):
            api.list_namespaced_job(NAMESPACE)
    assert k8s.violations == []


def test_a_hook_that_would_store_a_malformed_job_raises() -> None:
    with KubernetesFake() as k8s:
        k8s.batch_api().create_namespaced_job(NAMESPACE, job("attempt-a"))
        with pytest.raises(SchemaViolation, match=r"status\.active: 'one' is not of type"):
            k8s.set_job_status(NAMESPACE, "attempt-a", active="one")
        with pytest.raises(
            SchemaViolation, match=r"status: Additional .*'sucesseded' was unexpected"
        ):
            k8s.set_job_status(NAMESPACE, "attempt-a", sucesseded=1)
        with pytest.raises(SchemaViolation, match=r"conditions\.0: 'status' is a required"):
            k8s.set_job_status(NAMESPACE, "attempt-a", conditions=[{"type": "Complete"}])
        stored = k8s.job(NAMESPACE, "attempt-a")
        assert stored is not None and stored["status"] == {}


def test_a_malformed_answer_fails_the_test_that_was_served_it() -> None:
    left = pytest.raises(SchemaViolation, match=r"status\.failed: 'many' is not of type")
    with left, KubernetesFake() as k8s:
        api = k8s.batch_api()
        api.create_namespaced_job(NAMESPACE, job("attempt-a"))
        k8s.jobs[(NAMESPACE, "attempt-a")]["status"]["failed"] = "many"  # behind the hooks
        with pytest.raises(ApiException) as served:
            api.read_namespaced_job_status("attempt-a", NAMESPACE)
        assert served.value.status == 500
        assert "not schema-valid" in str(served.value.body)


def test_a_job_the_schema_refuses_is_refused_as_the_api_server_would() -> None:
    malformed = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "attempt-a"},
        "spec": {"backoffLimit": "none", "template": {"spec": {"containers": []}}},
    }
    left = pytest.raises(SchemaViolation, match=r"spec\.backoffLimit")
    with left, KubernetesFake() as k8s:
        # Posted as plain JSON: the Python client would refuse to send it.
        refused = httpx.post(f"{k8s.url}/apis/batch/v1/namespaces/{NAMESPACE}/jobs", json=malformed)
        assert refused.status_code == 422
        assert refused.json()["reason"] == "Invalid"
        assert k8s.job(NAMESPACE, "attempt-a") is None


def test_status_bodies_are_held_to_the_meta_v1_schema() -> None:
    assert schema_problems(status_body(404, "NotFound", 'jobs.batch "a" not found', "a")) == []
    broken = {**status_body(404, "NotFound", "gone"), "code": "404", "reasons": []}
    assert schema_problems(broken) == [
        "(object): Additional properties are not allowed ('reasons' was unexpected)",
        "code: '404' is not of type 'integer', 'null'",
    ]
    with pytest.raises(SchemaViolation, match=r"no Kubernetes .* schema for v1 Nonsense"):
        schema_problems({"apiVersion": "v1", "kind": "Nonsense"})


def test_a_lenient_fake_serves_what_it_holds() -> None:
    with KubernetesFake(strict=False) as k8s:
        api = k8s.batch_api()
        api.create_namespaced_job(NAMESPACE, job("attempt-a"))
        k8s.set_job_status(NAMESPACE, "attempt-a", active="one")
        assert k8s.violations == []
