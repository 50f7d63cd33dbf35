"""docker-compose.yml, checked without a Docker engine.

The file is validated against the compose specification schema, then read as
the processes it would run (tests/support/compose_stack.py) to check what the
schema cannot: dependencies name real services, commands are installed entry
points, variables are ones the services read, mounted paths exist here.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.compose_stack import (
    ComposeError,
    ServiceProcess,
    interpolate,
    load_stack,
    read_env_file,
    start_order,
)

from leviathan_control_plane.settings import ControlPlaneSettings
from leviathan_core.config import load_config
from leviathan_core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
KIND_OVERRIDE = REPO / "deploy" / "compose" / "kind.yml"
APP_OVERRIDE = REPO / "deploy" / "compose" / "github-app.yml"
COMPOSE_FILES = (COMPOSE, KIND_OVERRIDE, APP_OVERRIDE)
OUR_IMAGE = re.compile(r"^leviathan-[a-z-]+:[a-z0-9.-]+$")
CELERY_APPS = {"leviathan_scheduler.celery_app"}
# Variables the services read that are not LEVIATHAN_* settings fields.
OTHER_VARIABLES = {"GITHUB_TOKEN", "FLOWER_UNAUTHENTICATED_API", "KUBECONFIG", "HOME"} | {
    "GITHUB_APP_ID", "GITHUB_APP_INSTALLATION_ID", "GITHUB_APP_PRIVATE_KEY_FILE",
}  # fmt: skip


def raw(path: Path = COMPOSE) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def stack(**env: str) -> dict[str, ServiceProcess]:
    return load_stack(COMPOSE, env=env)


def ours(services: dict[str, ServiceProcess]) -> list[ServiceProcess]:
    return [s for s in services.values() if s.image and OUR_IMAGE.match(s.image)]


def known_variables() -> set[str]:
    fields = set(Settings.model_fields) | set(ControlPlaneSettings.model_fields)
    return {f"LEVIATHAN_{name.upper()}" for name in fields} | OTHER_VARIABLES


def test_compose_files_match_the_compose_specification() -> None:
    beside_python = Path(sys.executable).parent / "check-jsonschema"
    exe = str(beside_python) if beside_python.exists() else shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("no check-jsonschema: `make install` adds it to .venv")
    proc = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", *map(str, COMPOSE_FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_dependency_is_a_defined_service_with_the_right_check() -> None:
    services = raw()["services"]
    for name, spec in services.items():
        depends = spec.get("depends_on") or {}
        for dependency in depends:
            assert dependency in services, f"{name} depends on undefined service {dependency}"
            condition = depends[dependency]["condition"] if isinstance(depends, dict) else None
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", dependency
    assert set(raw(KIND_OVERRIDE)["services"]) <= set(services)
    order = start_order(stack(COMPOSE_PROFILES="postgres"))
    assert order.index("control-plane-migrate") < order.index("control-plane")
    assert order.index("postgres") < order.index("control-plane-migrate")


def test_every_command_is_an_installed_entry_point() -> None:
    scripts = {ep.name for ep in entry_points(group="console_scripts")}
    built = ours(stack())
    assert {s.name for s in built} >= {
        "control-plane",
        "scheduler-beat",
        "scheduler-worker",
        "dispatcher",
        "flower",
    }
    for service in built:
        program = service.command[0]
        assert program in scripts or program == "celery", f"{service.name}: {program}"
        if program == "celery":
            assert service.command[1] == "-A" and service.command[2] in CELERY_APPS


def test_celery_apps_named_by_compose_exist() -> None:
    for module in sorted(CELERY_APPS):
        assert importlib.util.find_spec(module) is not None, f"compose names {module}: missing"
    assert [s.command[3] for s in ours(stack()) if s.command[0] == "celery"] == [
        "beat",
        "worker",
        "flower",
    ]


def test_services_set_only_variables_they_read() -> None:
    known = known_variables()
    for service in ours(stack()):
        unknown = set(service.environment) - known
        assert not unknown, f"{service.name} sets variables nothing reads: {sorted(unknown)}"


def test_compose_config_is_dev_yaml_with_the_local_executor() -> None:
    dev = yaml.safe_load((REPO / "ops/autonomy/dev.yaml").read_text())
    compose = yaml.safe_load((REPO / "ops/autonomy/compose/dev.yaml").read_text())
    assert compose.pop("executor") == "local"
    assert compose == dev


@pytest.mark.parametrize(
    ("files", "executor"), [((COMPOSE,), "local"), ((COMPOSE, KIND_OVERRIDE), "kubernetes")]
)
def test_mounted_config_exists_and_loads(files: tuple[Path, ...], executor: str) -> None:
    dispatcher = stack()["dispatcher"]
    for override in files[1:]:
        dispatcher_env = raw(override)["services"]["dispatcher"]["environment"]
        dispatcher = replace(dispatcher, environment={**dispatcher.environment, **dispatcher_env})
    local = dispatcher.localized({}, Path("/nonexistent-volumes"))
    config = load_config(local.environment["LEVIATHAN_CONFIG"])
    assert config.executor == executor
    for service in ours(stack()):
        path = service.localized({}, Path("/v")).environment.get("LEVIATHAN_CONFIG")
        if path is not None:
            assert Path(path).is_file(), f"{service.name}: {path} is not mounted from the repo"


def test_reconciler_sees_the_local_worker_runs() -> None:
    """With executor: local the scheduler worker's reconciler reads the dispatcher's runs."""
    services = stack()
    runs = {}
    for name in ("dispatcher", "scheduler-worker"):
        data = services[name].environment["LEVIATHAN_DATA_DIR"]
        runs[name] = {m.source for m in services[name].mounts if m.target == f"{data}/runs"}
    assert runs["dispatcher"] == runs["scheduler-worker"] != set()
    assert raw()["services"]["scheduler-worker"]["pid"] == "service:dispatcher"


def test_ports_are_published_on_loopback_only() -> None:
    published = {
        name: spec.get("ports", []) for name, spec in raw()["services"].items() if "ports" in spec
    }
    assert set(published) == {"control-plane", "flower"}
    for name, ports in published.items():
        assert all(str(p).startswith("127.0.0.1:") for p in ports), name
    assert stack()["flower"].command[-2] == "--port=5555"
    assert stack()["flower"].environment["FLOWER_UNAUTHENTICATED_API"] == "true"


def test_images_are_built_from_the_project_dockerfiles() -> None:
    for name, spec in raw()["services"].items():
        if "build" not in spec:
            continue
        dockerfile = REPO / spec["build"]["dockerfile"]
        assert dockerfile.is_file(), name
        target = spec["build"].get("target")
        if target:
            assert re.search(rf"^FROM .+ AS {target}$", dockerfile.read_text(), re.M), name


def test_postgres_profile_switches_the_control_plane_database() -> None:
    default = stack()
    assert "postgres" not in default
    assert default["control-plane"].environment["LEVIATHAN_DATABASE_URL"].startswith("sqlite:")
    assert "postgres" not in default["control-plane"].depends_on
    example = read_env_file(REPO / ".env.example")
    commented = re.findall(r"^# ([A-Z_]+)=(.*)$", (REPO / ".env.example").read_text(), re.M)
    switched = stack(
        **example,
        **{k: v for k, v in commented if k in ("COMPOSE_PROFILES", "LEVIATHAN_DATABASE_URL")},
    )
    assert switched["control-plane"].depends_on["postgres"] == "service_healthy"
    url = switched["control-plane"].environment["LEVIATHAN_DATABASE_URL"]
    assert url.startswith("postgresql://") and "@postgres:5432/" in url


def test_env_example_lists_every_variable_and_holds_no_secret() -> None:
    texts = COMPOSE.read_text() + KIND_OVERRIDE.read_text() + APP_OVERRIDE.read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", texts))
    text = (REPO / ".env.example").read_text()
    missing = {v for v in used if not re.search(rf"^#? ?{v}=", text, re.M)} - {
        "LEVIATHAN_KIND_KUBECONFIG"
    }
    assert not missing, f".env.example does not mention {sorted(missing)}"
    assert read_env_file(REPO / ".env.example")["GITHUB_TOKEN"] == ""


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("$A/x", {"A": "1"}, "1/x"),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:-${B:-z}}", {}, "z"),
        ("${A:+set}", {"A": "1"}, "set"),
        ("${A:+set}", {"A": ""}, ""),
        ("${A+set}", {"A": ""}, "set"),
        ("${A:?need A}", {"A": "v"}, "v"),
        ("cost $$5", {}, "cost $5"),
        ("${MISSING}", {}, ""),
    ],
)
def test_interpolation_follows_compose_rules(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${A:?set A in .env}", "set A in .env"),
        ("${A", "closing"),
        ("a $ b", "lone"),
        ("${1X}", "invalid"),
    ],
)
def test_interpolation_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ComposeError, match=re.escape(message)):
        interpolate(text, {}, "services.x.environment.Y")


def test_localized_processes_point_at_local_servers_and_directories(tmp_path: Path) -> None:
    hosts = {"redis": "127.0.0.1:6390", "control-plane": "127.0.0.1:8123"}
    beat = stack()["scheduler-beat"].localized(hosts, tmp_path)
    assert beat.environment["LEVIATHAN_REDIS_URL"] == "redis://127.0.0.1:6390/0"
    assert beat.environment["LEVIATHAN_CONTROL_PLANE_URL"] == "http://127.0.0.1:8123"
    assert beat.environment["LEVIATHAN_DATA_DIR"] == str(tmp_path / "beat-data")
    assert f"--schedule={tmp_path / 'beat-data'}/celerybeat-schedule" in beat.command
    token = stack(LEVIATHAN_CONTROL_PLANE_TOKEN="t0k")["control-plane"].environment
    assert token["LEVIATHAN_CONTROL_PLANE_TOKEN"] == "t0k"


def test_dependency_cycles_and_bad_env_lines_are_reported(tmp_path: Path) -> None:
    cyclic = tmp_path / "compose.yml"
    cyclic.write_text(
        "services:\n"
        "  a: {command: [x], depends_on: [b]}\n"
        "  b: {command: [y], depends_on: {a: {condition: service_started}}}\n"
    )
    with pytest.raises(ComposeError, match="cycle: a -> b -> a"):
        start_order(load_stack(cyclic, env={}))
    bad = tmp_path / ".env"
    bad.write_text("GOOD=1\nnot a pair\n")
    with pytest.raises(ComposeError, match=r"\.env:2: expected KEY=VALUE"):
        read_env_file(bad)


def test_the_github_app_override_gives_the_key_as_a_file_to_those_that_talk_to_github() -> None:
    override = raw(APP_OVERRIDE)
    services = raw()["services"]
    assert set(override["services"]) == {"scheduler-worker", "dispatcher"} <= set(services)
    for name, spec in override["services"].items():
        assert spec["secrets"] == ["github-app-key"], name
        env = spec["environment"]
        assert set(env) <= known_variables(), name
        assert env["GITHUB_APP_PRIVATE_KEY_FILE"] == "/run/secrets/github-app-key"
        assert "GITHUB_APP_PRIVATE_KEY" not in env  # the key itself never in the environment
    assert set(override["secrets"]) == {"github-app-key"}
