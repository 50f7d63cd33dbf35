"""The Kubernetes manifests, rendered with kubectl kustomize and checked offline.

No cluster exists on the build machines, so every overlay is rendered with the
same kustomize that `kubectl apply -k` uses, each object is validated against
the Kubernetes JSON schemas in strict mode, and the project's own rules
(restricted pods, RBAC scope, labels the runbook selects on, secrets by
reference only) are asserted on the rendered objects.
"""

from __future__ import annotations

import copy
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient
from tests.support.k8s_objects import (
    Obj,
    containers,
    find,
    pod_problems,
    pod_specs,
    render,
    secret_refs,
)

from leviathan_control_plane.api.metrics import QUEUE_METRIC
from leviathan_core.config import load_config
from leviathan_core.constants import QUEUE_SCHEDULER
from leviathan_core.events import EventType, new_event
from leviathan_core.messages import DispatchMessage
from leviathan_dispatch.job_spec import build_job

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
RENDERINGS = (
    "base",
    "overlays/kind",
    "overlays/cronjob",
    "overlays/autoscale",
    "overlays/github-app",
)
K8S_VERSION = kubernetes_validate.latest_version()
NAMESPACE = "leviathan"
OUR_IMAGES = ("leviathan-control-plane", "leviathan-scheduler", "leviathan-dispatcher")
SECRET_REFS = {
    ("leviathan-secrets", "github-token"),
    ("leviathan-control-plane-secret", "LEVIATHAN_CONTROL_PLANE_TOKEN"),
}
# The control plane also reads the (optional) GitHub webhook secret, and every Redis
# client the Redis password; worker Jobs read neither.
MANIFEST_SECRET_REFS = SECRET_REFS | {
    ("leviathan-control-plane-secret", "LEVIATHAN_GITHUB_WEBHOOK_SECRET"),
    ("leviathan-redis-secret", "password"),
}
# A worker Job may also hold a GitHub App instead of the token (each key optional).
APP_REFS = {
    ("leviathan-secrets", "github-app-id"),
    ("leviathan-secrets", "github-app-installation-id"),
    ("leviathan-secrets", "github-app-private-key"),
}
# The github-app overlay: the scheduler's id and installation by reference, its key a file.
APP_MANIFEST_REFS = (MANIFEST_SECRET_REFS - {("leviathan-secrets", "github-token")}) | (
    APP_REFS - {("leviathan-secrets", "github-app-private-key")}
)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    return render(K8S, RENDERINGS)


@pytest.mark.parametrize("name", RENDERINGS)
def test_every_object_validates_against_the_kubernetes_schema(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    errors = []
    for obj in rendered[name]:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)
    outside = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in rendered[name]
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != NAMESPACE
    ]
    assert not outside, f"not in namespace {NAMESPACE}: {outside}"


@pytest.mark.parametrize("name", RENDERINGS)
def test_every_container_is_restricted_and_bounded(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    problems = [p for where, _, pod in pod_specs(rendered[name]) for p in pod_problems(where, pod)]
    assert not problems, "\n".join(problems)
    assert len(list(pod_specs(rendered[name]))) >= 6


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["securityContext"].pop("readOnlyRootFilesystem"), "root filesystem"),
        (lambda c: c["securityContext"].update(runAsUser=0), "uid 0"),
        (lambda c: c["securityContext"]["capabilities"].update(drop=["NET_RAW"]), "dropped"),
        (lambda c: c["securityContext"].update(allowPrivilegeEscalation=True), "escalation"),
        (lambda c: c["resources"].pop("limits"), "no limits"),
        (lambda c: c["env"].append({"name": "GITHUB_TOKEN", "value": "x"}), "plain value"),
    ],
)
def test_the_security_check_catches_a_weakened_container(
    rendered: dict[str, list[Obj]], mutate: Any, expected: str
) -> None:
    pod = copy.deepcopy(find(rendered["base"], "Deployment", "leviathan-control-plane"))
    spec = pod["spec"]["template"]["spec"]
    mutate(spec["containers"][0])
    assert any(expected in p for p in pod_problems("test", spec))


def test_control_plane_has_probes_a_service_and_its_database_on_a_volume(
    rendered: dict[str, list[Obj]],
) -> None:
    objs = rendered["overlays/kind"]
    deployment = find(objs, "Deployment", "leviathan-control-plane")
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    assert server["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert server["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"name": "http", "containerPort": 8000} in server["ports"]
    assert [c["command"] for c in pod["initContainers"]] == [["leviathan-control-plane", "migrate"]]
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["LEVIATHAN_DATABASE_URL"] == "sqlite:////data/control-plane.db"
    mounts = {m["mountPath"]: m["name"] for m in server["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
    find(objs, "PersistentVolumeClaim", claim)
    service = find(objs, "Service", "leviathan-control-plane")
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http"}]


@pytest.mark.parametrize("name", RENDERINGS)
def test_labels_the_runbook_selects_on(rendered: dict[str, list[Obj]], name: str) -> None:
    objs = rendered[name]
    apps = {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]["app"]
        for o in objs
        if o["kind"] == "Deployment"
    }
    assert apps["leviathan-control-plane"] == "leviathan-control-plane"
    assert apps.get("leviathan-scheduler-worker") == "leviathan-scheduler"
    for _, meta, _ in pod_specs(objs):
        assert meta["labels"]["app"].startswith("leviathan-")
    assert find(objs, "ServiceAccount", "leviathan-worker")["metadata"]["labels"]["app"] == (
        "leviathan-worker"
    )
    for obj in objs:
        if obj["kind"] == "Deployment":
            selector = obj["spec"]["selector"]["matchLabels"]
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), obj["metadata"]["name"]
        if obj["kind"] == "Service":
            selector = obj["spec"]["selector"]
            assert any(
                selector.items() <= meta["labels"].items() for _, meta, _ in pod_specs(objs)
            ), f"Service {obj['metadata']['name']} selects no pod"


def test_dispatcher_rbac_is_namespaced_and_minimal(rendered: dict[str, list[Obj]]) -> None:
    for objs in rendered.values():
        assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
        role = find(objs, "Role", "leviathan-dispatcher")
        rules = {
            (g, r): sorted(rule["verbs"])
            for rule in role["rules"]
            for g in rule["apiGroups"]
            for r in rule["resources"]
        }
        assert rules == {
            ("batch", "jobs"): sorted(["create", "get", "list", "watch", "delete"]),
            ("", "pods"): ["get", "list"],
            ("", "pods/log"): ["get", "list"],
        }
        binding = find(objs, "RoleBinding", "leviathan-dispatcher")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "leviathan-dispatcher",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "leviathan-dispatcher", "namespace": NAMESPACE}
        ]
        scheduler_verbs = {
            v for r in find(objs, "Role", "leviathan-scheduler")["rules"] for v in r["verbs"]
        }
        assert "create" not in scheduler_verbs
        dispatcher = find(objs, "Deployment", "leviathan-dispatcher")["spec"]["template"]["spec"]
        assert dispatcher["serviceAccountName"] == "leviathan-dispatcher"


@pytest.mark.parametrize("name", RENDERINGS)
def test_only_api_clients_get_a_service_account_token(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    objs = rendered[name]
    assert find(objs, "ServiceAccount", "leviathan-worker")["automountServiceAccountToken"] is False
    for where, _, pod in pod_specs(objs):
        if pod.get("serviceAccountName") not in ("leviathan-dispatcher", "leviathan-scheduler"):
            assert pod.get("automountServiceAccountToken") is False, where


def test_beat_is_a_single_replica_that_never_overlaps(rendered: dict[str, list[Obj]]) -> None:
    for name in ("base", "overlays/kind"):
        beat = find(rendered[name], "Deployment", "leviathan-scheduler-beat")
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}
        assert beat["spec"]["template"]["metadata"]["labels"]["app"] == "leviathan-scheduler"


def test_selection_workers_scale_out_and_beat_does_not(rendered: dict[str, list[Obj]]) -> None:
    """Threads for I/O-bound cycles, two replicas by default, and with overlays/autoscale
    a HorizontalPodAutoscaler on the queue length the control plane exports."""
    worker = find(rendered["base"], "Deployment", "leviathan-scheduler-worker")
    assert worker["spec"]["replicas"] == 2
    command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--pool=threads" in command and "--concurrency=32" in command
    objs = rendered["overlays/autoscale"]
    hpa = find(objs, "HorizontalPodAutoscaler", "leviathan-scheduler-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "leviathan-scheduler-worker"
    assert hpa["spec"]["minReplicas"] >= 2
    (metric,) = hpa["spec"]["metrics"]
    assert metric["external"]["metric"]["name"] == QUEUE_METRIC
    assert metric["external"]["metric"]["selector"]["matchLabels"] == {"queue": QUEUE_SCHEDULER}
    beat = find(objs, "Deployment", "leviathan-scheduler-beat")
    assert beat["spec"]["replicas"] == 1
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in objs if h["kind"].startswith("Horiz")}
    assert scaled == {"leviathan-scheduler-worker"}


def test_cronjob_overlay_replaces_beat_with_the_seed_cronjob(
    rendered: dict[str, list[Obj]],
) -> None:
    objs = rendered["overlays/cronjob"]
    assert not [o for o in objs if o["metadata"]["name"] == "leviathan-scheduler-beat"]
    cron = find(objs, "CronJob", "leviathan-dev-scheduler")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    target = load_config(REPO / "ops" / "autonomy" / "dev.yaml").target_id
    (tick,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert tick["command"] == ["leviathan", "tick", "--target", target]
    assert tick["image"] == "leviathan-scheduler:local"


def test_secrets_are_referenced_never_defined(rendered: dict[str, list[Obj]]) -> None:
    for name, objs in rendered.items():
        assert not [o for o in objs if o["kind"] == "Secret"], name
        expected = APP_MANIFEST_REFS if name == "overlays/github-app" else MANIFEST_SECRET_REFS
        assert secret_refs(objs) == expected, name
        for where, _, pod in pod_specs(objs):
            env = {e["name"] for c in containers(pod) for e in c.get("env", [])}
            assert "FLOWER_UNAUTHENTICATED_API" not in env, f"{where}: Flower API left open"


@pytest.mark.parametrize("name", ["overlays/kind", "overlays/cronjob"])
def test_kind_uses_local_images_without_pulling(rendered: dict[str, list[Obj]], name: str) -> None:
    for where, _, pod in pod_specs(rendered[name]):
        for c in containers(pod):
            assert c["imagePullPolicy"] == "IfNotPresent", where
            if c["image"].split(":")[0] in OUR_IMAGES:
                assert c["image"].endswith(":local"), where
            assert ":" in c["image"], f"{where}: image {c['image']} has no tag"


def test_config_map_carries_ops_autonomy_dev_yaml(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["overlays/kind"]
    source = REPO / "ops" / "autonomy" / "dev.yaml"
    config_map = find(objs, "ConfigMap", "leviathan-autonomy-config")
    assert config_map["data"] == {"dev.yaml": source.read_text()}
    env = find(objs, "ConfigMap", "leviathan-env")["data"]
    assert env["LEVIATHAN_CONFIG"] == "/etc/leviathan/dev.yaml"
    config = load_config(source)
    assert config.worker_namespace == NAMESPACE
    service = config.control_plane_url.removeprefix("http://").split(":")[0]
    find(objs, "Service", service)
    for where, _, pod in pod_specs(objs):
        uses_env = any(
            ref.get("configMapRef", {}).get("name") == "leviathan-env"
            for c in containers(pod)
            for ref in c.get("envFrom", [])
        )
        if uses_env:
            mounts = {m["mountPath"] for c in containers(pod) for m in c.get("volumeMounts", [])}
            assert "/etc/leviathan" in mounts, where


@pytest.mark.parametrize("name", RENDERINGS)
def test_commands_are_installed_entry_points(rendered: dict[str, list[Obj]], name: str) -> None:
    scripts = {ep.name for ep in entry_points(group="console_scripts")}
    for where, _, pod in pod_specs(rendered[name]):
        for c in containers(pod):
            if c["image"].split(":")[0] in OUR_IMAGES:
                program = c["command"][0]
                assert program in scripts, f"{where}: {program} is not an installed entry point"
                if program == "celery":
                    assert c["command"][1:3] == ["-A", "leviathan_scheduler.celery_app"], where


def test_worker_job_from_job_spec_validates() -> None:
    config = load_config(REPO / "ops" / "autonomy" / "dev.yaml")
    attempt = "attempt-update-readme-links-3f9a1c2e"
    created = new_event(
        EventType.ATTEMPT_CREATED,
        target_id=config.target_id,
        actor="scheduler",
        attempt_id=attempt,
        task_id="update-readme-links",
        fence=7,
    )
    message = DispatchMessage(
        target_id=config.target_id,
        task_id="update-readme-links",
        attempt_id=attempt,
        attempt_number=1,
        fence=7,
        created_event=created.wire(),
    )
    job = ApiClient().sanitize_for_serialization(  # type: ignore[no-untyped-call]
        build_job(config, message, control_plane_url="http://leviathan-control-plane:8000")
    )
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    ((where, meta, pod),) = pod_specs([job])
    assert pod_problems(where, pod) == []
    assert meta["labels"]["app"] == "leviathan-worker"
    assert pod["serviceAccountName"] == "leviathan-worker"
    assert pod["automountServiceAccountToken"] is False
    assert secret_refs([job]) == SECRET_REFS | APP_REFS
    # The untrusted change engine runs in a container of its own that holds none of them.
    holders = [c["name"] for c in containers(pod) if secret_refs([_only(job, c)])]
    assert holders == ["prepare", "publish"]
    assert [c["name"] for c in containers(pod)] == ["prepare", "engine", "publish"]
    assert job["metadata"]["namespace"] == NAMESPACE
    assert job["spec"]["backoffLimit"] == 0
    config_volumes = [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v]
    assert config_volumes == ["leviathan-autonomy-config"]


def _only(job: Obj, container: Obj) -> Obj:
    """The Job with just this one container, for helpers that walk whole objects."""
    one = copy.deepcopy(job)
    pod = one["spec"]["template"]["spec"]
    pod.pop("initContainers", None)
    pod["containers"] = [container]
    return one


def test_the_github_app_overlay_swaps_the_token_for_the_apps_key_file(
    rendered: dict[str, list[Obj]],
) -> None:
    pod = find(rendered["overlays/github-app"], "Deployment", "leviathan-scheduler-worker")
    spec = pod["spec"]["template"]["spec"]
    [worker] = containers(spec)
    env = {e["name"]: e for e in worker["env"]}
    assert "GITHUB_TOKEN" not in env
    assert env["GITHUB_APP_ID"]["valueFrom"]["secretKeyRef"]["key"] == "github-app-id"
    path = env["GITHUB_APP_PRIVATE_KEY_FILE"]["value"]
    [mount] = [m for m in worker["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
    assert mount["readOnly"] is True
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "leviathan-secrets"
    assert volume["secret"]["items"] == [
        {"key": "github-app-private-key", "path": path.rsplit("/", 1)[1]}
    ]
    assert volume["secret"]["defaultMode"] & 0o007 == 0  # nobody but owner and group
    base = find(rendered["base"], "Deployment", "leviathan-scheduler-worker")
    assert "GITHUB_TOKEN" in {e["name"] for c in containers(base["spec"]["template"]["spec"])
                              for e in c["env"]}  # fmt: skip
