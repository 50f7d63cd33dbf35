"""The worker pod's phases: the change engine runs where no secret is.

prepare and publish hold the tokens; engine runs the untrusted change engine in
its own container, under another uid, with no secret in its environment or
volumes, and shares only the engine tree with the others.
"""

from __future__ import annotations

import json
import re
from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient

from leviathan_core.config import AutonomyConfig, load_config
from leviathan_core.job_contract import (
    PHASE_ENGINE,
    PHASE_PREPARE,
    PHASE_PUBLISH,
    PHASE_RUN,
    WORKER_PROGRAM,
    attempt_dir,
    engine_dir,
    phase_arguments,
    worker_arguments,
)
from leviathan_core.messages import DispatchMessage
from leviathan_dispatch.job_spec import build_job
from tests.support.k8s_objects import pod_problems
from tests.support.messages import dispatch_message

Obj = dict[str, Any]
CONTROL_PLANE = "http://leviathan-control-plane:8000"
SECRETS = ("leviathan-secrets", "leviathan-control-plane-secret", "github-token")
SECRETISH = re.compile("TOKEN|SECRET|PASSWORD", re.IGNORECASE)
LONG_ATTEMPT = "attempt-" + "very-long-task-name-" * 7 + "0a1b2c3d"  # 156 characters


def config(**changes: Any) -> AutonomyConfig:
    return load_config("ops/autonomy/dev.yaml").model_copy(update=changes)


def pod_of(cfg: AutonomyConfig | None = None, message: DispatchMessage | None = None) -> Obj:
    cfg = cfg or config()
    job = build_job(
        cfg, message or dispatch_message(cfg.target_id), control_plane_url=CONTROL_PLANE
    )
    document: Obj = ApiClient().sanitize_for_serialization(job)  # type: ignore[no-untyped-call]
    pod: Obj = document["spec"]["template"]
    return pod


def by_name(pod: Obj) -> dict[str, Obj]:
    spec = pod["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def mounts(container: Obj) -> dict[str, str]:
    """volume name -> mount path."""
    return {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}


def test_the_phases_run_in_order_from_one_image_with_the_contract_arguments() -> None:
    message = dispatch_message("radix", "fix-links", fence=9)
    pod = pod_of(message=message)
    assert [c["name"] for c in pod["spec"]["initContainers"]] == [PHASE_PREPARE, PHASE_ENGINE]
    assert [c["name"] for c in pod["spec"]["containers"]] == [PHASE_PUBLISH]
    containers = by_name(pod)
    assert {c["image"] for c in containers.values()} == {"leviathan-worker:local"}
    for phase in (PHASE_PREPARE, PHASE_ENGINE, PHASE_PUBLISH):
        assert containers[phase]["command"] == [WORKER_PROGRAM]
        assert containers[phase]["args"] == phase_arguments(message, phase)


def test_the_phase_arguments_differ_only_in_the_subcommand() -> None:
    message = dispatch_message("radix", "fix-links", fence=9)
    assert worker_arguments(message) == phase_arguments(message, PHASE_RUN)
    assert worker_arguments(message)[0] == "run"
    for phase in (PHASE_PREPARE, PHASE_ENGINE, PHASE_PUBLISH):
        assert phase_arguments(message, phase) == [phase, *worker_arguments(message)[1:]]


def test_prepare_and_publish_hold_the_tokens_by_secret_key_ref_only() -> None:
    containers = by_name(pod_of())
    for phase in (PHASE_PREPARE, PHASE_PUBLISH):
        env = {e["name"]: e for e in containers[phase]["env"]}
        for name in ("GITHUB_TOKEN", "LEVIATHAN_CONTROL_PLANE_TOKEN"):
            assert set(env[name]) == {"name", "valueFrom"}, (phase, name)
            assert set(env[name]["valueFrom"]) == {"secretKeyRef"}, (phase, name)
        assert "envFrom" not in containers[phase], phase


def test_the_engine_holds_no_secret_in_its_environment() -> None:
    engine = by_name(pod_of(config(engine_network=["llm.example:443"])))[PHASE_ENGINE]
    assert "envFrom" not in engine
    assert [e["name"] for e in engine["env"] if "valueFrom" in e] == []
    for item in engine["env"]:
        assert not SECRETISH.search(item["name"]), item["name"]
        assert not SECRETISH.search(item.get("value", "")), item["name"]
    text = json.dumps(engine)
    for secret in SECRETS:
        assert secret not in text, secret
    # Nothing to talk to the control plane with, and nothing to talk to it about.
    assert "LEVIATHAN_CONTROL_PLANE_URL" not in {e["name"] for e in engine["env"]}


def test_the_engine_mounts_only_its_tree_its_own_tmp_and_home_and_the_config() -> None:
    pod = pod_of()
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    containers = by_name(pod)
    engine = containers[PHASE_ENGINE]
    assert set(mounts(engine)) == {"engine", "engine-tmp", "engine-home", "config"}
    assert "workspace" not in mounts(engine)
    for name in mounts(engine):
        assert set(volumes[name]) - {"name"} <= {"emptyDir", "configMap"}, name
    (config_mount,) = [m for m in engine["volumeMounts"] if m["name"] == "config"]
    assert config_mount["readOnly"] is True
    # The engine tree is the only volume shared with a token-holding phase: the
    # engine cannot plant a .gitconfig in the publisher's HOME or a file in its tmp.
    for phase in (PHASE_PREPARE, PHASE_PUBLISH):
        shared = set(mounts(engine)) & set(mounts(containers[phase])) - {"config"}
        assert shared == {"engine"}, phase
    assert engine["securityContext"]["readOnlyRootFilesystem"] is True


def test_no_container_of_the_pod_mounts_a_secret_or_a_token() -> None:
    pod = pod_of()
    assert pod["spec"]["automountServiceAccountToken"] is False
    for volume in pod["spec"]["volumes"]:
        assert "secret" not in volume and "projected" not in volume, volume["name"]


def test_the_engine_runs_as_another_uid_in_the_shared_group() -> None:
    pod = pod_of()
    containers = by_name(pod)
    engine = containers[PHASE_ENGINE]["securityContext"]
    for phase in (PHASE_PREPARE, PHASE_PUBLISH):
        assert engine["runAsUser"] != containers[phase]["securityContext"]["runAsUser"], phase
    assert engine["runAsUser"] != pod["spec"]["securityContext"]["runAsUser"]
    # fsGroup makes the engine volume group-writable; the engine is in that group.
    assert engine["runAsGroup"] == pod["spec"]["securityContext"]["fsGroup"]
    assert pod["spec"].get("shareProcessNamespace") is not True


@pytest.mark.parametrize("attempt_id", ["attempt-fix-links-1a2b3c4d", LONG_ATTEMPT])
@pytest.mark.parametrize("workspace_dir", ["/workspace", "/work/space/"])
def test_the_engine_tree_is_where_the_contract_says(attempt_id: str, workspace_dir: str) -> None:
    message = dispatch_message("radix", attempt_id=attempt_id)
    pod = pod_of(config(workspace_dir=workspace_dir), message)
    tree = engine_dir(workspace_dir, attempt_id)
    assert tree.endswith(f"/{attempt_id}/engine") and "//" not in tree
    containers = by_name(pod)
    for container in containers.values():
        assert mounts(container)["engine"] == tree, container["name"]
    assert containers[PHASE_ENGINE]["workingDir"] == tree
    for phase in (PHASE_PREPARE, PHASE_PUBLISH):
        # The attempt's dir is the workspace volume itself, so the nested engine
        # mount does not leave it a root-owned directory the phase cannot write.
        assert mounts(containers[phase])["workspace"] == attempt_dir(workspace_dir, attempt_id)


def test_a_job_for_a_long_attempt_id_is_still_strictly_valid() -> None:
    cfg = config()
    message = dispatch_message(cfg.target_id, attempt_id=LONG_ATTEMPT)
    job = build_job(cfg, message, control_plane_url=CONTROL_PLANE)
    document = ApiClient().sanitize_for_serialization(job)  # type: ignore[no-untyped-call]
    assert kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def test_every_container_init_ones_included_is_restricted_and_bounded() -> None:
    pod = pod_of()
    assert pod_problems("worker Job", pod["spec"]) == []
    assert len(by_name(pod)) == 3
    assert pod["spec"]["enableServiceLinks"] is False


def test_the_pod_names_its_untrusted_container_and_the_engine_endpoints() -> None:
    plain = pod_of()["metadata"]["annotations"]
    assert plain["leviathan.dev/untrusted-containers"] == PHASE_ENGINE
    assert "leviathan.dev/engine-network" not in plain
    endpoints = ["llm.example:443", "[2001:db8::1]:8080"]
    networked = pod_of(config(engine_network=endpoints))["metadata"]["annotations"]
    assert networked["leviathan.dev/engine-network"] == ",".join(endpoints)


# ---- change_engine: agent: the model's key, in the engine container only ------------------

AGENT_KEY = "sk-JOB-CANARY-3f9a1c"


def agent_config(**changes: Any) -> AutonomyConfig:
    """A validated agent target (model_copy would skip the checks the file gets)."""
    data = config().model_dump() | {
        "change_engine": "agent",
        "agent_base_url": "https://models.example/v1",
        "agent_model": "some-model",
        "engine_network": ["models.example:443"],
        **changes,
    }
    return AutonomyConfig.model_validate(data)


def agent_job(cfg: AutonomyConfig) -> Obj:
    job = build_job(cfg, dispatch_message(cfg.target_id), control_plane_url=CONTROL_PLANE)
    document: Obj = ApiClient().sanitize_for_serialization(job)  # type: ignore[no-untyped-call]
    return document


@pytest.mark.parametrize(
    ("changes", "variable", "secret", "key"),
    [
        ({}, "LEVIATHAN_AGENT_API_KEY", "leviathan-agent", "api-key"),
        (
            {"agent_api_key_env": "MODEL_KEY", "agent_api_key_secret": "models.team-a",
             "agent_api_key_secret_key": "OPENAI_API_KEY"},
            "MODEL_KEY", "models.team-a", "OPENAI_API_KEY",
        ),
    ],
)  # fmt: skip
def test_the_agent_key_reaches_only_the_engine_by_secret_key_ref(
    changes: dict[str, str], variable: str, secret: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dispatcher's own environment holds the key: it must not leak into the Job.
    monkeypatch.setenv(variable, AGENT_KEY)
    monkeypatch.setenv("LEVIATHAN_AGENT_API_KEY", AGENT_KEY)
    document = agent_job(agent_config(**changes))
    containers = by_name(document["spec"]["template"])
    engine = {e["name"]: e for e in containers[PHASE_ENGINE]["env"]}
    assert engine[variable] == {
        "name": variable,
        "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
    }
    # The key is the engine's only secret: no token, nothing else by reference.
    assert [e["name"] for e in engine.values() if "valueFrom" in e] == [variable]
    assert "envFrom" not in containers[PHASE_ENGINE]
    for phase in (PHASE_PREPARE, PHASE_PUBLISH):
        text = json.dumps(containers[phase])
        assert variable not in {e["name"] for e in containers[phase]["env"]}, phase
        assert f'"name": "{secret}"' not in text, phase
    assert AGENT_KEY not in json.dumps(document)
    assert kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def test_other_engines_get_no_agent_key() -> None:
    for engine in ("backlog-propose", "docs-template"):
        text = json.dumps(pod_of(config(change_engine=engine)))
        assert "LEVIATHAN_AGENT_API_KEY" not in text and "leviathan-agent" not in text, engine


def test_the_engine_with_the_agent_key_still_holds_no_token() -> None:
    engine = by_name(pod_of(agent_config()))[PHASE_ENGINE]
    text = json.dumps(engine)
    for secret in SECRETS:
        assert secret not in text, secret
    for name in ("GITHUB_TOKEN", "LEVIATHAN_CONTROL_PLANE_TOKEN", "LEVIATHAN_CONTROL_PLANE_URL"):
        assert name not in {e["name"] for e in engine["env"]}, name
    assert [v for v in pod_of(agent_config())["spec"]["volumes"] if "secret" in v] == []
