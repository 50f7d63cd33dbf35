"""The worker Job: schema-valid, named safely, locked down, secrets only by reference."""

from __future__ import annotations

import json
import re
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.client import ApiClient

from leviathan_core import job_naming as naming
from leviathan_core.config import AutonomyConfig, load_config
from leviathan_core.events import ID_PATTERN
from leviathan_core.job_naming import DNS_1123_LABEL, LABEL_VALUE, job_name, label_value
from leviathan_dispatch import job_spec
from leviathan_dispatch.job_spec import build_job
from tests.support.messages import dispatch_message

SEED_CONFIG = "ops/autonomy/dev.yaml"
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
CONTROL_PLANE = "http://leviathan-control-plane:8000"


def seed_config(**changes: Any) -> AutonomyConfig:
    return load_config(SEED_CONFIG).model_copy(update=changes)


def job_document(config: AutonomyConfig | None = None, **kwargs: Any) -> dict[str, Any]:
    config = config or seed_config()
    message = kwargs.pop("message", None) or dispatch_message(config.target_id)
    job = build_job(config, message, control_plane_url=CONTROL_PLANE, **kwargs)
    document: dict[str, Any] = ApiClient().sanitize_for_serialization(job)  # type: ignore[no-untyped-call]
    return document


def all_containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    pod = document["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def container(document: dict[str, Any], name: str = "publish") -> dict[str, Any]:
    """One phase's container (default: publish, the one that pushes and opens the PR)."""
    (found,) = [c for c in all_containers(document) if c["name"] == name]
    return dict(found)


def env_of(document: dict[str, Any], name: str = "publish") -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container(document, name)["env"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_the_job_validates_against_the_strict_kubernetes_schema(version: str) -> None:
    assert kubernetes_validate.validate(job_document(), version, strict=True)


def test_a_broken_job_is_caught_by_the_same_validation() -> None:
    document = job_document()
    document["spec"]["backoffLimit"] = "zero"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(document, VERSIONS[0], strict=True)


def test_name_labels_and_annotations_identify_the_attempt() -> None:
    message = dispatch_message("radix", "update-readme-links", attempt_id="attempt-x-0a1b2c3d")
    document = job_document(message=message)
    meta = document["metadata"]
    assert meta["name"] == "leviathan-worker-attempt-x-0a1b2c3d"
    assert meta["namespace"] == "leviathan"
    expected = {
        "app": "leviathan-worker",
        "leviathan.dev/target": "radix",
        "leviathan.dev/attempt": "attempt-x-0a1b2c3d",
    }
    assert meta["labels"] == expected
    assert document["spec"]["template"]["metadata"]["labels"] == expected
    assert meta["annotations"]["leviathan.dev/attempt-id"] == "attempt-x-0a1b2c3d"
    assert meta["annotations"]["leviathan.dev/fence"] == str(message.fence)


def test_kubernetes_never_retries_and_the_deadline_is_the_attempt_timeout() -> None:
    spec = job_document(seed_config(attempt_timeout_seconds=900, job_ttl_seconds=600))["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 900
    assert spec["ttlSecondsAfterFinished"] == 600
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_the_pod_and_every_container_are_locked_down() -> None:
    document = job_document()
    pod = document["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "leviathan-worker"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert [c["name"] for c in all_containers(document)] == ["prepare", "engine", "publish"]
    for spec in all_containers(document):
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, spec["name"]
        assert security["runAsUser"] > 0, spec["name"]
        assert security["readOnlyRootFilesystem"] is True, spec["name"]
        assert security["allowPrivilegeEscalation"] is False, spec["name"]
        assert security["privileged"] is False, spec["name"]
        assert security["capabilities"] == {"drop": ["ALL"]}, spec["name"]
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, spec["name"]
        resources = spec["resources"]
        assert set(resources["requests"]) >= {"cpu", "memory"}, spec["name"]
        assert set(resources["limits"]) >= {"cpu", "memory"}, spec["name"]


def test_writable_places_are_empty_dirs_and_config_is_mounted_read_only() -> None:
    message = dispatch_message("radix", attempt_id="attempt-a-1")
    document = job_document(seed_config(workspace_dir="/work/space"), message=message)
    volumes = {v["name"]: v for v in document["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container(document)["volumeMounts"]}
    env = env_of(document)
    for path in ("/work/space/attempt-a-1", "/tmp", env["HOME"]["value"]):
        assert "emptyDir" in volumes[mounts[path]["name"]], path
    config_mount = mounts["/etc/leviathan"]
    assert config_mount["readOnly"] is True
    assert volumes[config_mount["name"]]["configMap"]["name"] == "leviathan-autonomy-config"
    assert env["LEVIATHAN_CONFIG"]["value"] == "/etc/leviathan/"
    assert env["LEVIATHAN_WORKSPACE_DIR"]["value"] == "/work/space"


def test_the_worker_gets_the_attempt_through_arguments_and_environment() -> None:
    message = dispatch_message("radix", "fix-links", fence=42, attempt_number=2)
    document = job_document(message=message, image="registry.example/worker:1.2")
    spec = container(document)
    assert spec["image"] == "registry.example/worker:1.2"
    assert spec["command"] == ["leviathan-worker"]
    assert spec["args"] == [
        "publish", "--target", "radix", "--task", "fix-links",
        "--attempt", message.attempt_id, "--fence", "42",
    ]  # fmt: skip
    env = {name: str(item.get("value")) for name, item in env_of(document).items()}
    assert env["LEVIATHAN_TARGET"] == "radix"
    assert env["LEVIATHAN_TASK"] == "fix-links"
    assert env["LEVIATHAN_ATTEMPT"] == message.attempt_id
    assert env["LEVIATHAN_ATTEMPT_NUMBER"] == "2"
    assert env["LEVIATHAN_FENCE"] == "42"
    assert env["LEVIATHAN_CONTROL_PLANE_URL"] == CONTROL_PLANE
    assert json.loads(env["LEVIATHAN_CREATED_EVENT"]) == message.created_event


def test_the_image_defaults_to_the_configured_worker_image() -> None:
    images = {c["image"] for c in all_containers(job_document())}
    assert images == {"leviathan-worker:local"}


def test_secrets_are_only_referenced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_should_never_appear")
    monkeypatch.setenv("LEVIATHAN_CONTROL_PLANE_TOKEN", "cp_should_never_appear")
    document = job_document()
    refs = {
        "GITHUB_TOKEN": ("leviathan-secrets", "github-token"),
        "LEVIATHAN_CONTROL_PLANE_TOKEN": (
            "leviathan-control-plane-secret",
            "LEVIATHAN_CONTROL_PLANE_TOKEN",
        ),
    }
    for phase in ("prepare", "publish"):
        env = env_of(document, phase)
        for name, (secret, key) in refs.items():
            assert "value" not in env[name], (phase, name)
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (secret, key)
    text = json.dumps(document)
    assert "should_never_appear" not in text
    for spec in all_containers(document):
        plain = [i for i in spec["env"] if "value" in i and re.search("TOKEN|SECRET", i["name"])]
        assert plain == [], spec["name"]


def test_building_is_pure() -> None:
    config, message = seed_config(), dispatch_message()
    first = build_job(config, message, control_plane_url=CONTROL_PLANE)
    second = build_job(config, message, control_plane_url=CONTROL_PLANE)
    assert first == second


def test_a_message_for_another_target_is_refused() -> None:
    with pytest.raises(ValueError, match="'other'"):
        build_job(seed_config(), dispatch_message("other"), control_plane_url=CONTROL_PLANE)


@pytest.mark.parametrize(
    ("attempt_id", "expected"),
    [
        ("attempt-fix-links-1a2b3c4d", "leviathan-worker-attempt-fix-links-1a2b3c4d"),
        ("a", "leviathan-worker-a"),
        ("x" * 46, "leviathan-worker-" + "x" * 46),  # exactly 63 characters: kept whole
    ],
)  # fmt: skip
def test_names_that_fit_are_kept_whole(attempt_id: str, expected: str) -> None:
    assert job_name(attempt_id) == expected


@pytest.mark.parametrize(
    "attempt_id",
    [
        "x" * 47,  # one character too long
        "attempt-" + "very-long-task-name-" * 5 + "1a2b3c4d",
        "attempt-Fix_Links.v2-1a2b3c4d",  # capitals, underscore, dot
        "attempt:with:colons",
        "___",  # nothing usable left
    ],
)
def test_names_that_do_not_fit_are_cut_and_hashed(attempt_id: str) -> None:
    name = job_name(attempt_id)
    assert DNS_1123_LABEL.match(name) and len(name) <= 63
    assert name.startswith("leviathan-worker-")
    assert name.endswith(naming.short_hash(attempt_id))


def test_ids_that_sanitise_alike_still_get_different_names() -> None:
    assert job_name("attempt-a_b-1") != job_name("attempt-a.b-1")
    long_a, long_b = "attempt-" + "t" * 80 + "-aaaa", "attempt-" + "t" * 80 + "-bbbb"
    assert job_name(long_a) != job_name(long_b)


def test_job_name_is_reexported_for_the_dispatcher() -> None:
    assert job_spec.job_name is job_name


@given(st.from_regex(ID_PATTERN, fullmatch=True))
def test_every_attempt_id_maps_to_a_valid_job_name_and_label(attempt_id: str) -> None:
    name = job_name(attempt_id)
    assert DNS_1123_LABEL.match(name) and len(name) <= 63
    assert name == job_name(attempt_id)
    value = label_value(attempt_id)
    assert LABEL_VALUE.match(value) and len(value) <= 63
