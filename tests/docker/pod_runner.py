"""Run a built worker Job's pod on the Docker engine, container by container, as a kubelet would.

No Kubernetes API server can run here, so the tier takes the very ``V1Job`` that
``job_spec.build_job`` returns and plays its pod: init containers one after
another (a failure stops the pod), then the main container; each with the
image, command, arguments, environment (``secretKeyRef`` resolved from the
given secrets, ``optional`` ones left out when missing), working directory,
user and group, read-only root, dropped capabilities and no new privileges
that the spec asks for. Every ``emptyDir`` becomes a Docker volume prepared the
way the kubelet prepares one under ``fsGroup`` (group-owned, mode 2777); every
``configMap`` volume becomes a read-only bind of a local folder. All containers
join one network, as a pod's share one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from tests.docker.engine import Engine


@dataclass(frozen=True)
class ContainerRun:
    name: str
    init: bool
    code: int
    logs: str


def _env_args(container: client.V1Container, secrets: Mapping[tuple[str, str], str]) -> list[str]:
    args: list[str] = []
    for var in container.env or []:
        if var.value_from is None:
            args += ["-e", f"{var.name}={var.value or ''}"]
            continue
        ref = var.value_from.secret_key_ref
        if ref is None:
            raise ValueError(f"{container.name}: {var.name} is neither a value nor a secret")
        value = secrets.get((ref.name, ref.key))
        if value is None and not ref.optional:
            raise ValueError(f"{container.name}: secret {ref.name}/{ref.key} is missing")
        if value is not None:
            args += ["-e", f"{var.name}={value}"]
    if container.env_from:
        raise ValueError(f"{container.name}: envFrom is not played by this runner")
    return args


def _security_args(container: client.V1Container, pod: client.V1PodSpec) -> list[str]:
    pod_ctx = pod.security_context or client.V1PodSecurityContext()
    ctx = container.security_context or client.V1SecurityContext()
    uid = ctx.run_as_user if ctx.run_as_user is not None else pod_ctx.run_as_user
    gid = ctx.run_as_group if ctx.run_as_group is not None else pod_ctx.run_as_group
    args = ["--user", f"{uid}:{gid}"]
    if pod_ctx.fs_group is not None:
        args += ["--group-add", str(pod_ctx.fs_group)]
    if ctx.read_only_root_filesystem:
        args.append("--read-only")
    if ctx.capabilities is not None and "ALL" in (ctx.capabilities.drop or []):
        args += ["--cap-drop", "ALL"]
    if ctx.allow_privilege_escalation is False:
        args += ["--security-opt", "no-new-privileges:true"]
    return args


@dataclass
class PodRunner:
    engine: Engine
    network: str
    secrets: Mapping[tuple[str, str], str]
    config_maps: Mapping[str, Path]  # configMap name -> local folder

    def run(self, job: client.V1Job) -> list[ContainerRun]:
        pod = job.spec.template.spec
        volumes = self._volumes(pod)
        runs: list[ContainerRun] = []
        try:
            for init, container in [
                *((True, c) for c in pod.init_containers or []),
                *((False, c) for c in pod.containers),
            ]:
                runs.append(self._container(container, pod, volumes, init))
                if runs[-1].code != 0 and init:
                    break  # a failed init container fails the pod (restartPolicy Never)
        finally:
            for source, _ in volumes.values():
                if not source.startswith("/"):
                    self.engine.docker("volume", "rm", "-f", source, check=False)
        return runs

    def _volumes(self, pod: client.V1PodSpec) -> dict[str, tuple[str, bool]]:
        """Volume name -> (docker volume or host folder, read-only)."""
        made: dict[str, tuple[str, bool]] = {}
        image = pod.containers[0].image
        fs_group = (pod.security_context or client.V1PodSecurityContext()).fs_group or 0
        for volume in pod.volumes or []:
            if volume.empty_dir is not None:
                name = f"pod-{volume.name}-{uuid.uuid4().hex[:8]}"
                self.engine.docker("volume", "create", name)
                self.engine.docker(
                    "run", "--rm", "--user", "0", "-v", f"{name}:/v", image,
                    "sh", "-c", f"chown 0:{fs_group} /v && chmod 2777 /v",
                )  # fmt: skip
                made[volume.name] = (name, False)
            elif volume.config_map is not None:
                made[volume.name] = (str(self.config_maps[volume.config_map.name]), True)
            else:
                raise ValueError(f"volume {volume.name}: only emptyDir and configMap are played")
        return made

    def _container(
        self,
        container: client.V1Container,
        pod: client.V1PodSpec,
        volumes: Mapping[str, tuple[str, bool]],
        init: bool,
    ) -> ContainerRun:
        args = ["run", "--name", f"{container.name}-{uuid.uuid4().hex[:8]}"]
        args += ["--network", self.network, *_security_args(container, pod)]
        for mount in container.volume_mounts or []:
            source, read_only = volumes[mount.name]
            flag = ":ro" if read_only or mount.read_only else ""
            args += ["-v", f"{source}:{mount.mount_path}{flag}"]
        if container.working_dir:
            args += ["--workdir", container.working_dir]
        args += _env_args(container, self.secrets)
        args += [container.image, *(container.command or []), *(container.args or [])]
        done = self.engine.docker(*args, check=False, timeout=600)
        name = args[2]
        self.engine.docker("rm", "-f", name, check=False)
        return ContainerRun(container.name, init, done.returncode, done.stdout + done.stderr)
