"""The scheduler's wiring: settings and target files in, ``CycleDeps`` out.

Clients are built once per process and target and reused across ticks (the
backlog mirror and the forge's conditional-request cache only pay off that
way); the target files are read again on every tick, so an edited file
applies without a restart, and a changed target gets fresh clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from leviathan_adapters.backlog_source import BacklogSource, BacklogUnavailable
from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_adapters.forge.factory import make_forge
from leviathan_adapters.runs.factory import make_run_inspector
from leviathan_core.config import AutonomyConfig, ConfigError, load_configs
from leviathan_core.runs import ExecutorUnavailable, RunInspector
from leviathan_core.settings import Settings
from leviathan_scheduler.console import emit
from leviathan_scheduler.deps import BacklogReader, BacklogSnapshotLike, CycleDeps, TaskSender

log = logging.getLogger(__name__)


def redis_client(url: str) -> redis.Redis:
    """Short timeouts and few retries: an unreachable Redis must end a tick quickly."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        health_check_interval=30,
    )


class UnreadableBacklog:
    """Stands in for a backlog source that could not even be set up."""

    def __init__(self, error: BacklogUnavailable) -> None:
        self.error = error

    def read(self) -> BacklogSnapshotLike:
        raise self.error


def backlog_reader(config: AutonomyConfig, settings: Settings) -> BacklogReader:
    try:
        return BacklogSource(config, settings)
    except BacklogUnavailable as exc:
        return UnreadableBacklog(exc)


def runs_or_none(config: AutonomyConfig, settings: Settings) -> RunInspector | None:
    """Where runs are read, or None when the backend has no credentials (timeouts still apply)."""
    try:
        return make_run_inspector(config, settings)
    except ExecutorUnavailable as exc:
        log.warning("target %s: executor unavailable: %s", config.target_id, exc)
        return None


def control_plane_client(config: AutonomyConfig, settings: Settings) -> ControlPlaneClient:
    spool = settings.spool_path() / f"scheduler-{config.target_id}.jsonl"
    return ControlPlaneClient(
        settings.control_plane_for(config), settings.control_plane_token, spool_path=spool
    )


class Runtime:
    """One per process: the settings, one Redis client, and each target's clients."""

    def __init__(
        self,
        settings: Settings,
        send_task: TaskSender | None,
        *,
        out: Callable[[Iterable[str]], None] = emit,
        with_executor: bool = True,
    ) -> None:
        self.settings = settings
        self.send_task = send_task
        self.out = out
        self.with_executor = with_executor
        self.redis = redis_client(settings.redis_url)
        self._deps: dict[str, tuple[AutonomyConfig, CycleDeps]] = {}

    def configs(self) -> dict[str, AutonomyConfig]:
        """Every target file under ``LEVIATHAN_CONFIG``; raises ConfigError naming the file."""
        return load_configs(self.settings.config_path())

    def config_for(self, target_id: str) -> AutonomyConfig:
        configs = self.configs()
        if target_id not in configs:
            known = ", ".join(sorted(configs)) or "none"
            raise ConfigError(
                f"{self.settings.config_path()}: no target {target_id!r} (known: {known})"
            )
        return configs[target_id]

    def deps_for(self, config: AutonomyConfig) -> CycleDeps:
        """Cached clients for ``config``; raises ConfigError when the forge cannot be set up."""
        cached = self._deps.get(config.target_id)
        if cached is not None and cached[0] == config:
            return cached[1]
        deps = CycleDeps(
            redis=self.redis,
            control_plane=control_plane_client(config, self.settings),
            forge=make_forge(config, self.settings),
            backlog=backlog_reader(config, self.settings),
            runs=runs_or_none(config, self.settings) if self.with_executor else None,
            send_task=self.send_task,
            out=self.out,
        )
        self._deps[config.target_id] = (config, deps)
        return deps
