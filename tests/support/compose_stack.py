"""Read docker-compose.yml as the processes it would run, without Docker.

No Docker engine exists on the build machines, yet the compose file must not
drift from the services: a test can take each service's command and
environment from here (variables resolved the way compose resolves them),
point service host names and mounted paths at local equivalents, and start the
same commands as plain processes.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class ComposeError(ValueError):
    """The compose file cannot be read as processes; the message names the place."""


@dataclass(frozen=True)
class Mount:
    """One volume of a service: a host directory (bind) or a named volume."""

    source: str
    target: str
    read_only: bool
    bind: bool


@dataclass(frozen=True)
class ServiceProcess:
    """What one compose service runs: argv, environment, mounts and dependencies."""

    name: str
    command: tuple[str, ...]
    environment: dict[str, str]
    depends_on: dict[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    healthcheck: tuple[str, ...] | None = None
    image: str | None = None

    def localized(self, hosts: Mapping[str, str], volumes_dir: Path) -> ServiceProcess:
        """The same process for this machine.

        ``hosts`` maps service names to ``host:port`` (``{"redis": "127.0.0.1:6390"}``);
        named volumes become directories under ``volumes_dir`` and bind mounts
        their host directories, in the environment and the command alike.
        """
        paths = {m.target: m.source if m.bind else str(volumes_dir / m.source) for m in self.mounts}

        def local(value: str) -> str:
            return _replace_paths(_replace_hosts(value, hosts), paths)

        return replace(
            self,
            command=tuple(local(arg) for arg in self.command),
            environment={key: local(value) for key, value in self.environment.items()},
        )


def interpolate(text: str, env: Mapping[str, str], where: str = "value") -> str:
    """Resolve ``$VAR``, ``${VAR}``, ``${VAR:-default}`` (also ``-``, ``?``, ``+``) and ``$$``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2, where)
            out.append(_expand(text[i + 2 : end], env, where))
            i = end + 1
        elif match := _NAME.match(text, i + 1):
            out.append(env.get(match.group(), ""))
            i = match.end()
        else:
            raise ComposeError(f"{where}: a lone '$' at offset {i}; write '$$' for a literal '$'")
    return "".join(out)


def _closing_brace(text: str, start: int, where: str) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ComposeError(f"{where}: '${{' without a closing '}}'")


def _expand(body: str, env: Mapping[str, str], where: str) -> str:
    match = _NAME.match(body)
    if match is None:
        raise ComposeError(f"{where}: invalid variable reference '${{{body}}}'")
    name, rest = match.group(), body[match.end() :]
    if not rest:
        return env.get(name, "")
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise ComposeError(f"{where}: invalid variable reference '${{{body}}}'")
    value = env.get(name)
    present = value is not None and (value != "" or ":" not in operator)

    def argument() -> str:
        return interpolate(rest[len(operator) :], env, where)

    if operator.endswith("-"):
        return value if present and value is not None else argument()
    if operator.endswith("?"):
        if not present or value is None:
            raise ComposeError(f"{where}: required variable {name} is missing: {argument()}")
        return value
    return argument() if present else ""


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a compose ``.env`` file (comments and blanks skipped)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.removeprefix("export ").partition("=")
        if not sep or not _NAME.fullmatch(key.strip()):
            raise ComposeError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_stack(
    compose_file: Path,
    env: Mapping[str, str] | None = None,
    profiles: Sequence[str] | None = None,
) -> dict[str, ServiceProcess]:
    """Every service active for ``profiles``, with variables resolved from ``env``.

    Without ``env`` the variables come from ``os.environ`` over the ``.env`` file
    beside the compose file, which is compose's own order of precedence; without
    ``profiles`` they come from ``COMPOSE_PROFILES`` (comma-separated) as in compose.
    """
    if env is None:
        dotenv = compose_file.parent / ".env"
        env = {**(read_env_file(dotenv) if dotenv.is_file() else {}), **os.environ}
    if profiles is None:
        profiles = [p for p in env.get("COMPOSE_PROFILES", "").split(",") if p]
    document = yaml.safe_load(compose_file.read_text())
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        raise ComposeError(f"{compose_file}: no 'services' mapping")
    active = {
        name: spec
        for name, spec in services.items()
        if not spec.get("profiles") or set(spec["profiles"]) & set(profiles)
    }
    return {
        name: _service(
            name,
            _resolve(spec, env, f"{compose_file}: services.{name}"),
            set(active),
            compose_file.parent,
        )
        for name, spec in active.items()
    }


def start_order(stack: Mapping[str, ServiceProcess]) -> list[str]:
    """Service names so that each comes after everything it depends on."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name not in stack:
            raise ComposeError(f"services.{path[-1]}.depends_on: unknown service {name!r}")
        if name in visiting:
            raise ComposeError(f"depends_on cycle: {' -> '.join((*path, name))}")
        visiting.add(name)
        for dependency in stack[name].depends_on:
            visit(dependency, (*path, name))
        order.append(name)

    for name in stack:
        visit(name, ())
    return order


def _resolve(node: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(node, str):
        return interpolate(node, env, where)
    if isinstance(node, list):
        return [_resolve(item, env, where) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, env, f"{where}.{key}") for key, value in node.items()}
    return node


def _service(name: str, spec: dict[str, Any], active: set[str], base: Path) -> ServiceProcess:
    command = spec.get("command")
    if command is None:
        raise ComposeError(f"services.{name}: no 'command' (every service names what it runs)")
    argv = tuple(shlex.split(command) if isinstance(command, str) else map(str, command))
    return ServiceProcess(
        name=name,
        command=argv,
        environment=_environment(spec.get("environment") or {}),
        depends_on=_depends_on(spec.get("depends_on") or {}, active),
        mounts=tuple(_mount(volume, base, name) for volume in spec.get("volumes") or []),
        healthcheck=_healthcheck(spec.get("healthcheck")),
        image=spec.get("image"),
    )


def _environment(raw: dict[str, Any] | list[str]) -> dict[str, str]:
    pairs = raw.items() if isinstance(raw, dict) else (i.partition("=")[::2] for i in raw)
    return {str(key): "" if value is None else str(value) for key, value in pairs}


def _depends_on(raw: dict[str, Any] | list[str], active: set[str]) -> dict[str, str]:
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {
        name: str(spec.get("condition", "service_started"))
        for name, spec in raw.items()
        if name in active or spec.get("required", True)
    }


def _mount(volume: str | dict[str, Any], base: Path, service: str) -> Mount:
    if isinstance(volume, dict):
        source, target = str(volume.get("source", "")), str(volume["target"])
        read_only, bind = bool(volume.get("read_only")), volume.get("type") == "bind"
    else:
        parts = volume.split(":")
        if len(parts) < 2:
            raise ComposeError(f"services.{service}.volumes: {volume!r} has no target")
        source, target = parts[0], parts[1]
        read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        bind = source.startswith((".", "/", "~"))
    if bind:
        source = str((base / Path(source).expanduser()).resolve())
    return Mount(source=source, target=target, read_only=read_only, bind=bind)


def _healthcheck(raw: dict[str, Any] | None) -> tuple[str, ...] | None:
    test = (raw or {}).get("test")
    if not test or test == ["NONE"]:
        return None
    if isinstance(test, str):
        return ("sh", "-c", test)
    kind, *argv = test
    return ("sh", "-c", " ".join(argv)) if kind == "CMD-SHELL" else tuple(argv)


def _replace_hosts(value: str, hosts: Mapping[str, str]) -> str:
    """Point ``scheme://[user@]service[:port]`` at the address a local process listens on."""
    if not hosts:
        return value
    names = "|".join(re.escape(name) for name in sorted(hosts, key=len, reverse=True))
    pattern = rf"(?:(?<=://)|(?<=@))({names})(?::\d+)?(?=[/?#]|$)"
    return re.sub(pattern, lambda match: hosts[match.group(1)], value)


def _replace_paths(value: str, paths: Mapping[str, str]) -> str:
    """Swap mount targets for host paths in one pass (a target must start a path)."""
    if not paths:
        return value
    targets = "|".join(re.escape(t) for t in sorted(paths, key=len, reverse=True))
    pattern = rf"(?<![\w.-])(?:{targets})(?=/|$)"
    return re.sub(pattern, lambda match: paths[match.group()], value)
