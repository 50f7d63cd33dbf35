"""KubernetesExecutor and the real ``kubernetes`` client against the API fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from tests.support.k8s_fake import KubernetesFake
from tests.support.messages import dispatch_message
from tests.support.servers import free_port

from leviathan_adapters.runs import kubernetes as k8s_executor
from leviathan_adapters.runs.kubernetes import KubernetesRuns, load_batch_api
from leviathan_core.config import AutonomyConfig
from leviathan_core.job_naming import job_name
from leviathan_core.runs import ExecutorRejected, ExecutorUnavailable
from leviathan_core.settings import Settings
from leviathan_dispatch.executors.factory import make_executor
from leviathan_dispatch.executors.kubernetes import KubernetesExecutor

NS = "leviathan"


def config_for(target_id: str) -> AutonomyConfig:
    return AutonomyConfig(target_id=target_id, target_repo_url="file:///srv/repo.git")


def executor_on(api: client.BatchV1Api, target_id: str = "radix") -> KubernetesExecutor:
    return KubernetesExecutor(NS, api, config_for(target_id), control_plane_url="http://cp:8000")


@pytest.fixture(scope="module")
def fake() -> Iterator[KubernetesFake]:
    with KubernetesFake() as server:
        yield server


@pytest.fixture
def executor(fake: KubernetesFake) -> KubernetesExecutor:
    return executor_on(fake.batch_api())


def test_start_creates_the_job_once(fake: KubernetesFake, executor: KubernetesExecutor) -> None:
    message = dispatch_message()
    assert executor.start(message) is True
    assert executor.start(message) is False  # duplicate delivery: 409 is success
    name = job_name(message.attempt_id)
    job = fake.job(NS, name)
    assert job is not None
    assert job["metadata"]["labels"]["leviathan.dev/attempt"] == message.attempt_id
    assert job["metadata"]["uid"]
    posts = [r for r in fake.requests_for("POST") if r.body["metadata"]["name"] == name]
    assert len(posts) == 2


def test_status_follows_the_job(fake: KubernetesFake, executor: KubernetesExecutor) -> None:
    message = dispatch_message()
    name = job_name(message.attempt_id)
    executor.start(message)
    assert executor.status(message.attempt_id).state == "pending"
    fake.start_job(NS, name)
    assert executor.status(message.attempt_id).state == "running"
    fake.finish_job(NS, name, succeeded=True)
    assert executor.status(message.attempt_id).state == "succeeded"


def test_a_failed_job_reports_the_reason(
    fake: KubernetesFake, executor: KubernetesExecutor
) -> None:
    message = dispatch_message()
    name = job_name(message.attempt_id)
    executor.start(message)
    fake.start_job(NS, name)
    fake.finish_job(NS, name, succeeded=False, reason="DeadlineExceeded", message="too long")
    status = executor.status(message.attempt_id)
    assert (status.state, status.detail) == ("failed", "DeadlineExceeded: too long")


def condition(kind: str, status: str = "True", reason: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": ""}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"active": 2}, "running"),
        ({"conditions": [condition("SuccessCriteriaMet")], "active": 1}, "succeeded"),
        ({"conditions": [condition("FailureTarget", reason="DeadlineExceeded")]}, "failed"),
        ({"conditions": [condition("Failed", status="False")], "active": 1}, "running"),
        ({"conditions": [condition("Suspended")]}, "pending"),
        ({"failed": 1}, "failed"),
        ({"succeeded": 1}, "succeeded"),
    ],
)
def test_job_conditions_map_to_run_states(
    fake: KubernetesFake, executor: KubernetesExecutor, status: dict[str, object], expected: str
) -> None:
    message = dispatch_message()
    executor.start(message)
    fake.set_job_status(NS, job_name(message.attempt_id), **status)
    assert executor.status(message.attempt_id).state == expected


def test_delete_removes_the_job_in_the_background(
    fake: KubernetesFake, executor: KubernetesExecutor
) -> None:
    message = dispatch_message()
    name = job_name(message.attempt_id)
    executor.start(message)
    executor.delete(message.attempt_id)
    assert executor.status(message.attempt_id).state == "missing"
    executor.delete(message.attempt_id)  # already gone: fine
    deletes = [r for r in fake.requests_for("DELETE") if r.path.endswith(f"/{name}")]
    assert [r.query.get("propagationPolicy") for r in deletes] == ["Background", "Background"]


def test_unknown_attempts_are_missing(executor: KubernetesExecutor) -> None:
    status = executor.status("attempt-never-00000000")
    assert status.state == "missing"
    assert "leviathan-worker-attempt-never-00000000" in status.detail


def test_list_attempt_jobs_pages_through_one_target(
    fake: KubernetesFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(k8s_executor, "LIST_PAGE", 2)
    executor = executor_on(fake.batch_api(), "listed")
    mine = [dispatch_message("listed", f"task-{n}") for n in range(5)]
    for message in mine:
        executor.start(message)
    executor_on(fake.batch_api(), "other-target").start(dispatch_message("other-target"))
    fake.start_job(NS, job_name(mine[0].attempt_id))
    found = {s.attempt_id: s.state for s in executor.list_attempt_jobs("listed")}
    assert set(found) == {m.attempt_id for m in mine}
    assert found[mine[0].attempt_id] == "running"
    pages = [r for r in fake.requests_for("GET") if "leviathan.dev/target=listed" in str(r.query)]
    assert len(pages) == 3


ERRORS = [
    (503, ExecutorUnavailable),
    (500, ExecutorUnavailable),
    (403, ExecutorRejected),
    (422, ExecutorRejected),
]


@pytest.mark.parametrize(("status", "kind"), ERRORS)
def test_api_errors_become_executor_errors(
    fake: KubernetesFake, executor: KubernetesExecutor, status: int, kind: type[Exception]
) -> None:
    fake.inject_error(status, method="POST")
    with pytest.raises(kind, match=f"HTTP {status}: injected {status}") as caught:
        executor.start(dispatch_message())
    if kind is ExecutorUnavailable:
        assert not isinstance(caught.value, ExecutorRejected)


def test_status_and_delete_also_fail_closed(
    fake: KubernetesFake, executor: KubernetesExecutor
) -> None:
    fake.inject_error(503, method="GET")
    with pytest.raises(ExecutorUnavailable):
        executor.status("attempt-x-00000000")
    fake.inject_error(500, method="DELETE")
    with pytest.raises(ExecutorUnavailable):
        executor.delete("attempt-x-00000000")


def test_an_unreachable_api_is_unavailable() -> None:
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{free_port()}"
    configuration.retries = 0
    api = client.BatchV1Api(client.ApiClient(configuration))
    executor = executor_on(api)
    with pytest.raises(ExecutorUnavailable, match="unreachable"):
        executor.start(dispatch_message())
    with pytest.raises(ExecutorUnavailable, match="unreachable"):
        executor.status("attempt-x-00000000")


def test_the_reconciler_side_can_only_inspect(fake: KubernetesFake) -> None:
    runs = KubernetesRuns(NS, fake.batch_api())
    assert not hasattr(runs, "start")
    assert runs.status("attempt-x-00000000").state == "missing"


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_load_batch_api_reads_the_kubeconfig(
    fake: KubernetesFake, no_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = no_cluster / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake.kubeconfig()))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    api = load_batch_api()
    assert api.api_client.configuration.host == fake.url
    config = config_for("radix")
    executor = make_executor(config, Settings(_env_file=None), control_plane_url="http://cp:8000")  # type: ignore[call-arg]
    assert isinstance(executor, KubernetesExecutor)
    assert executor.namespace == config.worker_namespace
    message = dispatch_message()
    assert executor.start(message) is True
    assert fake.job(config.worker_namespace, job_name(message.attempt_id)) is not None


def test_load_batch_api_without_credentials_says_what_to_do(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(no_cluster / "absent"))
    with pytest.raises(ExecutorUnavailable, match="set KUBECONFIG or use 'executor: local'"):
        load_batch_api()


def test_the_fake_serves_pods_and_logs_like_the_api(
    fake: KubernetesFake, executor: KubernetesExecutor
) -> None:
    message = dispatch_message()
    name = job_name(message.attempt_id)
    executor.start(message)
    pod = fake.start_job(NS, name, log="✓ PR created: https://example/pull/1\n")
    core = client.CoreV1Api(executor.api.api_client)
    pods = [
        p.metadata for p in core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items
    ]
    assert [(m.name, (m.labels or {}).get("app")) for m in pods if m] == [(pod, "leviathan-worker")]
    assert "PR created:" in core.read_namespaced_pod_log(pod, NS)
    selector = "app=leviathan-worker,!missing"
    workers = [p.metadata for p in core.list_namespaced_pod(NS, label_selector=selector).items]
    assert pod in [m.name for m in workers if m]
