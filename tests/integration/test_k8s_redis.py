"""Redis on Kubernetes: a StatefulSet behind a password, reachable only from Leviathan's pods.

Rendered offline with kubectl kustomize (no cluster here), so each property is
asserted on the objects: the password comes from one Secret key into Redis and
into every client's URL, and the NetworkPolicies admit exactly the pods that
talk to Redis and to the control plane, worker Jobs included.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu.utils.url import url_to_parts
from kubernetes.client import ApiClient
from tests.support.k8s_objects import Obj, containers, find, pod_specs, render
from tests.support.messages import dispatch_message

from leviathan_core.config import load_config
from leviathan_core.settings import Settings
from leviathan_dispatch.job_spec import build_job

REPO = Path(__file__).resolve().parents[2]
RENDERINGS = ("base", "overlays/kind", "overlays/cronjob")
PASSWORD_REF = {"name": "leviathan-redis-secret", "key": "password"}
PASSWORD_ENV = "LEVIATHAN_REDIS_PASSWORD"
REDIS_URL = "redis://:$(LEVIATHAN_REDIS_PASSWORD)@leviathan-redis:6379/0"
# Who talks to whom: Redis serves Celery and the locks; the control plane gets events.
REDIS_CLIENTS = {
    "leviathan-control-plane",
    "leviathan-scheduler",
    "leviathan-dispatcher",
    "leviathan-flower",
}
CONTROL_PLANE_CLIENTS = {"leviathan-scheduler", "leviathan-dispatcher", "leviathan-worker"}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    return render(REPO / "deploy" / "k8s", RENDERINGS)


def worker_job() -> Obj:
    """The Job the dispatcher creates for one attempt, as the API server receives it."""
    config = load_config(REPO / "ops" / "autonomy" / "dev.yaml")
    job = build_job(
        config,
        dispatch_message(config.target_id),
        control_plane_url="http://leviathan-control-plane:8000",
    )
    document: Obj = ApiClient().sanitize_for_serialization(job)  # type: ignore[no-untyped-call]
    return document


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not matched:
            return False
    return True


def admitted(policy: Obj, labels: dict[str, str], port: int) -> bool:
    """Whether a pod of this namespace with ``labels`` may open ``port`` on the policy's pods."""
    for rule in policy["spec"].get("ingress", []):
        ports = {p["port"] for p in rule.get("ports", [])}
        if ports and port not in ports:
            continue
        if not rule.get("from"):
            return True  # no `from`: every source
        for peer in rule["from"]:
            if set(peer) == {"podSelector"} and selects(peer["podSelector"], labels):
                return True
    return False


def foreign_peers(policy: Obj) -> list[Obj]:
    """Sources beyond named pods of this namespace: other namespaces, IP blocks, everyone."""
    peers = [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])]
    open_rules: list[Obj] = [
        {} for rule in policy["spec"].get("ingress", []) if not rule.get("from")
    ]
    named = [p for p in peers if set(p) == {"podSelector"} and p["podSelector"]]
    return open_rules + [p for p in peers if p not in named]


def env_list(container: Obj) -> list[Obj]:
    return list(container.get("env", []))


def policy_for(objs: list[Obj], workload: Obj) -> Obj:
    """The one NetworkPolicy that selects the workload's pods, with Ingress in its types."""
    labels = workload["spec"]["template"]["metadata"]["labels"]
    matching = [
        o
        for o in objs
        if o["kind"] == "NetworkPolicy" and selects(o["spec"]["podSelector"], labels)
    ]
    name = workload["metadata"]["name"]
    assert len(matching) == 1, f"expected one NetworkPolicy selecting {name}, found {matching}"
    assert "Ingress" in matching[0]["spec"]["policyTypes"], name
    return matching[0]


@pytest.mark.parametrize("name", RENDERINGS)
def test_redis_is_a_single_statefulset_with_its_data_on_a_claim_template(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    objs = rendered[name]
    assert not [o for o in objs if o["kind"] == "Deployment" and "redis" in o["metadata"]["name"]]
    assert not [o for o in objs if o["kind"] == "PersistentVolumeClaim" and "redis" in str(o)]
    redis_set = find(objs, "StatefulSet", "leviathan-redis")
    spec = redis_set["spec"]
    assert spec["replicas"] == 1
    governing = find(objs, "Service", spec["serviceName"])
    assert governing["spec"]["clusterIP"] == "None"
    labels = spec["template"]["metadata"]["labels"]
    assert governing["spec"]["selector"].items() <= labels.items()
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    pod = spec["template"]["spec"]
    assert claim["metadata"]["name"] not in {v["name"] for v in pod.get("volumes", [])}
    (server,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in server["volumeMounts"]}
    command = server["command"]
    assert mounts[claim["metadata"]["name"]] == command[command.index("--dir") + 1]
    assert command[command.index("--appendonly") + 1] == "yes"


@pytest.mark.parametrize("name", RENDERINGS)
def test_redis_requires_the_password_from_the_secret_and_its_probe_authenticates(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    pod = find(rendered[name], "StatefulSet", "leviathan-redis")["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    env = {e["name"]: e for e in env_list(server)}
    command = server["command"]
    password_var = command[command.index("--requirepass") + 1]
    assert password_var == f"$({PASSWORD_ENV})"
    assert env[PASSWORD_ENV]["valueFrom"]["secretKeyRef"] == PASSWORD_REF
    assert env["REDISCLI_AUTH"]["valueFrom"]["secretKeyRef"] == PASSWORD_REF
    probe = server["readinessProbe"]["exec"]["command"]
    # redis-cli exits 0 on a NOAUTH reply, so a bare `redis-cli ping` proves nothing.
    assert probe == ["sh", "-c", 'test "$(redis-cli ping)" = PONG']


@pytest.mark.parametrize("name", RENDERINGS)
def test_every_redis_client_builds_its_url_from_the_secret(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    objs = rendered[name]
    for config_map in (o for o in objs if o["kind"] == "ConfigMap"):
        assert "redis://" not in str(config_map.get("data", {})), config_map["metadata"]["name"]
    clients = set()
    for where, meta, pod in pod_specs(objs):
        if meta["labels"]["app"] not in REDIS_CLIENTS:
            continue
        for c in pod["containers"]:
            names = [e["name"] for e in env_list(c)]
            assert "LEVIATHAN_REDIS_URL" in names, f"{where}: no LEVIATHAN_REDIS_URL"
            url = env_list(c)[names.index("LEVIATHAN_REDIS_URL")]
            password = env_list(c)[names.index(PASSWORD_ENV)] if PASSWORD_ENV in names else {}
            assert url == {"name": "LEVIATHAN_REDIS_URL", "value": REDIS_URL}, where
            assert password.get("valueFrom", {}).get("secretKeyRef") == PASSWORD_REF, where
            # $(VAR) expands only from variables declared earlier in the list.
            assert names.index(PASSWORD_ENV) < names.index("LEVIATHAN_REDIS_URL"), where
        clients.add(meta["labels"]["app"])
    assert clients == REDIS_CLIENTS
    host = REDIS_URL.split("@")[1].split(":")[0]
    redis_labels = find(objs, "StatefulSet", "leviathan-redis")["spec"]["template"]["metadata"]
    assert find(objs, "Service", host)["spec"]["selector"].items() <= redis_labels["labels"].items()


def test_the_cronjob_tick_reaches_redis_with_the_password(rendered: dict[str, list[Obj]]) -> None:
    cron = find(rendered["overlays/cronjob"], "CronJob", "leviathan-dev-scheduler")
    (tick,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in env_list(tick)}
    assert env["LEVIATHAN_REDIS_URL"]["value"] == REDIS_URL
    assert env[PASSWORD_ENV]["valueFrom"]["secretKeyRef"] == PASSWORD_REF


def test_the_expanded_url_carries_the_password_to_every_redis_library() -> None:
    password = secrets.token_hex(32)  # what docs/deployment.md's `openssl rand -hex 32` makes
    url = REDIS_URL.replace(f"$({PASSWORD_ENV})", password)
    assert Settings(redis_url=url).redis_url == url
    kwargs: dict[str, Any] = redis.Redis.from_url(url).connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["host"], kwargs["port"]) == (
        password,
        "leviathan-redis",
        6379,
    )
    assert url_to_parts(url).password == password  # kombu, the Celery broker


def test_worker_jobs_never_see_the_redis_password() -> None:
    env = [e for c in containers(worker_job()["spec"]["template"]["spec"]) for e in env_list(c)]
    assert not [e for e in env if "REDIS" in e["name"]]


@pytest.mark.parametrize("name", RENDERINGS)
def test_only_leviathan_pods_that_use_redis_may_reach_it(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    objs = rendered[name]
    policy = policy_for(objs, find(objs, "StatefulSet", "leviathan-redis"))
    pods = [(where, meta["labels"], pod) for where, meta, pod in pod_specs(objs)]
    for where, labels, pod in pods:
        uses_redis = any(
            e["name"] == "LEVIATHAN_REDIS_URL" for c in containers(pod) for e in env_list(c)
        )
        if uses_redis:
            assert admitted(policy, labels, 6379), f"{where} uses Redis but may not reach it"
    job_labels = worker_job()["spec"]["template"]["metadata"]["labels"]
    assert not admitted(policy, job_labels, 6379), "worker Jobs need no Redis"
    assert not admitted(policy, {"app": "someone-else"}, 6379)
    assert foreign_peers(policy) == []
    for rule in policy["spec"]["ingress"]:
        assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    assert {app for app in REDIS_CLIENTS if admitted(policy, {"app": app}, 6379)} == REDIS_CLIENTS


@pytest.mark.parametrize("name", RENDERINGS)
def test_only_leviathan_pods_and_worker_jobs_may_reach_the_control_plane(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    objs = rendered[name]
    policy = policy_for(objs, find(objs, "Deployment", "leviathan-control-plane"))
    for where, meta, pod in pod_specs(objs):
        if meta["labels"]["app"] == "leviathan-control-plane":
            continue
        holds_token = any(
            e["name"] == "LEVIATHAN_CONTROL_PLANE_TOKEN"
            for c in containers(pod)
            for e in env_list(c)
        )
        if holds_token:
            assert admitted(policy, meta["labels"], 8000), (
                f"{where} may not reach the control plane"
            )
    job_labels = worker_job()["spec"]["template"]["metadata"]["labels"]
    assert admitted(policy, job_labels, 8000), "worker Jobs post the attempt's events"
    assert not admitted(policy, {"app": "leviathan-flower"}, 8000)
    assert not admitted(policy, {"app": "someone-else"}, 8000)
    assert foreign_peers(policy) == []
    for rule in policy["spec"]["ingress"]:
        assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    allowed = {app for app in CONTROL_PLANE_CLIENTS if admitted(policy, {"app": app}, 8000)}
    assert allowed == CONTROL_PLANE_CLIENTS


@pytest.mark.parametrize("name", RENDERINGS)
def test_the_engine_shares_the_pods_network_but_has_no_token_to_use_it_with(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    """A NetworkPolicy selects pods, not containers: what admits the publisher admits
    the engine too. What keeps the engine harmless is that it holds nothing to send."""
    objs = rendered[name]
    policy = policy_for(objs, find(objs, "Deployment", "leviathan-control-plane"))
    pod = worker_job()["spec"]["template"]
    assert admitted(policy, pod["metadata"]["labels"], 8000)
    (engine,) = [c for c in containers(pod["spec"]) if c["name"] == "engine"]
    names = {e["name"] for e in env_list(engine)}
    assert not names & {"LEVIATHAN_CONTROL_PLANE_TOKEN", "LEVIATHAN_CONTROL_PLANE_URL"}
    assert not [e for e in env_list(engine) if "valueFrom" in e]


def test_the_policy_readers_see_an_open_rule() -> None:
    """The helpers above must not pass a policy that admits more than named pods."""
    named = {"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}
    assert admitted({"spec": {"ingress": [named]}}, {"app": "a"}, 6379)
    assert not admitted({"spec": {"ingress": [named]}}, {"app": "b"}, 6379)
    assert foreign_peers({"spec": {"ingress": [named]}}) == []
    wide: list[Obj] = [
        {},
        {"from": [{"podSelector": {}}]},
        {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}}]},
        {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
    ]
    for rule in wide:
        assert foreign_peers({"spec": {"ingress": [named, rule]}}), rule
