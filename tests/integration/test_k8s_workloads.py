"""Kubernetes workloads: probes that check the process itself, pinned images, the CronJob.

Rendered offline with kubectl kustomize. A Celery worker is alive when its own
node answers a ping through the broker; beat consumes no queue, so it is alive
when its heartbeat file is fresh. Images carry an explicit tag, never an
implicit ``:latest``. The CronJob leaves ``suspend`` unset, so a re-apply keeps
a ``kubectl patch … suspend:true`` in force.
"""

from __future__ import annotations

import importlib.util
import shlex
import tomllib
from pathlib import Path

import pytest
from tests.support.k8s_objects import Obj, containers, find, pod_specs, render

from leviathan_core.config import load_config
from leviathan_dispatch.main import DEFAULT_ARGS as DISPATCHER_ARGS
from leviathan_scheduler import heartbeat

REPO = Path(__file__).resolve().parents[2]
RENDERINGS = ("base", "overlays/kind", "overlays/cronjob")
OUR_IMAGES = ("leviathan-control-plane", "leviathan-scheduler", "leviathan-dispatcher")
PROJECT_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
WORKLOADS = ("Deployment", "StatefulSet")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    return render(REPO / "deploy" / "k8s", RENDERINGS)


def only_container(objs: list[Obj], kind: str, name: str) -> Obj:
    (container,) = find(objs, kind, name)["spec"]["template"]["spec"]["containers"]
    return dict(container)


def image_tag(image: str) -> str | None:
    """The tag of an image reference (None when it has none); a digest counts as a tag."""
    if "@" in image:
        return image.split("@", 1)[1]
    name = image.rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if ":" in name else None


def ping_probe(container: Obj, app: str, node: str) -> None:
    """Both probes ping this pod's own Celery node, with time for a Celery start."""
    for kind in ("readinessProbe", "livenessProbe"):
        probe = container[kind]
        shell, flag, script = probe["exec"]["command"]
        assert (shell, flag) == ("sh", "-c"), kind  # $HOSTNAME needs a shell
        words = shlex.split(script)
        assert words[words.index("-A") + 1] == app, kind
        assert words[words.index("inspect") + 1] == "ping", kind
        assert words[words.index("--destination") + 1] == f"{node}@$HOSTNAME", kind
        assert importlib.util.find_spec(app) is not None, f"{app} is not importable"
        timeout = float(words[words.index("--timeout") + 1])
        assert probe["timeoutSeconds"] >= 2 * timeout, f"{kind}: the probe dies before celery"
        assert probe["periodSeconds"] >= 30, f"{kind}: a Celery start every few seconds"


def node_name(hostname_option: str) -> str:
    """``scheduler@%h`` -> ``scheduler``: the part of the node name the pod does not supply."""
    node, host = hostname_option.split("@")
    assert host == "%h", "the node name must end in the pod's hostname for the probe to find it"
    return node


@pytest.mark.parametrize("name", RENDERINGS)
def test_every_long_running_container_has_both_probes(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    missing = [
        f"{o['kind']}/{o['metadata']['name']} {c['name']}: {probe}"
        for o in rendered[name]
        if o["kind"] in WORKLOADS
        for c in o["spec"]["template"]["spec"]["containers"]
        for probe in ("readinessProbe", "livenessProbe")
        if probe not in c
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("name", RENDERINGS)
def test_the_scheduler_worker_answers_a_ping_to_its_own_node(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    worker = only_container(rendered[name], "Deployment", "leviathan-scheduler-worker")
    command = worker["command"]
    assert command[:3] == ["celery", "-A", "leviathan_scheduler.celery_app"]
    (hostname,) = [
        arg.removeprefix("--hostname=") for arg in command if arg.startswith("--hostname=")
    ]
    ping_probe(worker, "leviathan_scheduler.celery_app", node_name(hostname))


@pytest.mark.parametrize("name", RENDERINGS)
def test_the_dispatcher_answers_a_ping_to_its_own_node(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    dispatcher = only_container(rendered[name], "Deployment", "leviathan-dispatcher")
    assert dispatcher["command"] == ["leviathan-dispatcher"]  # so DEFAULT_ARGS name the node
    hostname = DISPATCHER_ARGS[DISPATCHER_ARGS.index("--hostname") + 1]
    ping_probe(dispatcher, "leviathan_dispatch.celery_app", node_name(hostname))


@pytest.mark.parametrize("name", ["base", "overlays/kind"])
def test_beat_is_alive_while_its_heartbeat_is_fresh(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    objs = rendered[name]
    beat = only_container(objs, "Deployment", "leviathan-scheduler-beat")
    data_dir = find(objs, "ConfigMap", "leviathan-env")["data"]["LEVIATHAN_DATA_DIR"]
    assert data_dir in {m["mountPath"] for m in beat["volumeMounts"]}
    for kind in ("readinessProbe", "livenessProbe"):
        probe = beat[kind]
        python, flag, module, file, max_age = probe["exec"]["command"]
        assert (python, flag, module) == ("python", "-m", heartbeat.__name__), kind
        assert file == str(heartbeat.heartbeat_path(data_dir)), kind
        # Beat touches the file at least every EVERY_SECONDS; leave room for one late loop.
        assert float(max_age) >= 2 * heartbeat.EVERY_SECONDS, kind
    liveness = beat["livenessProbe"]
    assert liveness["initialDelaySeconds"] >= heartbeat.EVERY_SECONDS  # a first loop has run


@pytest.mark.parametrize("name", RENDERINGS)
def test_every_image_has_an_explicit_tag_and_none_is_latest(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    for where, _, pod in pod_specs(rendered[name]):
        for c in containers(pod):
            tag = image_tag(c["image"])
            assert tag, f"{where}: image {c['image']} has no tag (an implicit :latest)"
            assert tag != "latest", f"{where}: image {c['image']}"
    worker_image = load_config(REPO / "ops" / "autonomy" / "dev.yaml").worker_image
    assert image_tag(worker_image) not in (None, "latest"), f"worker_image {worker_image}"


def test_the_base_pins_our_images_to_the_project_version(rendered: dict[str, list[Obj]]) -> None:
    for where, _, pod in pod_specs(rendered["base"]):
        for c in containers(pod):
            repository = c["image"].rsplit(":", 1)[0]
            if repository in OUR_IMAGES:
                assert c["image"] == f"{repository}:{PROJECT_VERSION}", where
            else:
                assert c["image"] == "redis:7.2-alpine", where


def test_the_image_reader_sees_a_missing_tag() -> None:
    assert image_tag("leviathan-scheduler") is None
    assert image_tag("localhost:5000/leviathan-scheduler") is None
    assert image_tag("localhost:5000/leviathan-scheduler:0.1.0") == "0.1.0"
    assert image_tag("redis@sha256:abc") == "sha256:abc"


def test_the_cronjob_leaves_suspend_to_kubectl_patch(rendered: dict[str, list[Obj]]) -> None:
    cron = find(rendered["overlays/cronjob"], "CronJob", "leviathan-dev-scheduler")
    assert "suspend" not in cron["spec"], (
        "a `suspend` value in the manifest undoes `kubectl patch … suspend:true` on every "
        "re-apply; leave it unset (a new CronJob starts unsuspended)"
    )
