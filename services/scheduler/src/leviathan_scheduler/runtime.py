"""The scheduler's wiring: settings and target files in, ``CycleDeps`` out.

Clients are built once per process and target and reused across ticks (the
backlog mirror and the forge's conditional-request cache only pay off that
way); the target files are looked at again on every tick (two ``stat`` calls,
a parse only when the file changed: ``target_files``), so an edited file
applies without a restart, and a changed target gets fresh clients.

What can be shared between targets is, so a process serving thousands of
targets holds one connection pool per service, not one per target: one HTTP
client and one batching state reader (``StateReads``) per control plane, one
PyGithub client and one rate-limit hold (``RateBudget``) per GitHub token.
Everything here is safe to use from the threads of a threads-pool worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from leviathan_adapters.backlog_source import BacklogSource, BacklogUnavailable
from leviathan_adapters.control_plane_client import ControlPlaneClient, shared_http
from leviathan_adapters.forge.base import Forge
from leviathan_adapters.forge.factory import make_forge
from leviathan_adapters.runs.factory import make_run_inspector
from leviathan_adapters.state_reads import StateReads
from leviathan_core.config import AutonomyConfig
from leviathan_core.runs import ExecutorUnavailable, RunInspector
from leviathan_core.settings import Settings
from leviathan_core.target_files import TargetFiles
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


class Runtime:
    """One per process: the settings, one Redis client, shared clients, each target's clients."""

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
        self.files = TargetFiles(settings.config_path())
        self._deps: dict[str, tuple[AutonomyConfig, CycleDeps]] = {}
        self._http: dict[str, tuple[httpx.Client, StateReads]] = {}
        self._github: dict[tuple[str, str], tuple[Any, tuple[Any, Any]]] = {}
        self._batch_api: Any = None
        self._lock = threading.RLock()

    def configs(self) -> dict[str, AutonomyConfig]:
        """Every target under ``LEVIATHAN_CONFIG``; a ConfigError lists every problem."""
        return self.files.current().require_valid()

    def config_for(self, target_id: str) -> AutonomyConfig:
        """``target_id`` as its file says now; other files' problems do not stop it."""
        return self.files.lookup(target_id)

    def control_plane_for(self, config: AutonomyConfig) -> ControlPlaneClient:
        """A client on the shared pool and state reader of ``config``'s control plane."""
        url = self.settings.control_plane_for(config)
        with self._lock:
            if url not in self._http:
                http = shared_http(url, self.settings.control_plane_token)
                reader = ControlPlaneClient(url, None, http=http)
                self._http[url] = (http, StateReads(reader.target_states))
            http, reads = self._http[url]
        spool = self.settings.spool_path() / f"scheduler-{config.target_id}.jsonl"
        return ControlPlaneClient(url, None, spool_path=spool, http=http, state_reads=reads)

    def forge_for(self, config: AutonomyConfig) -> Forge:
        """The target's forge; GitHub ones share their credentials' client and rate-limit hold.

        A token's budget is the token's; a GitHub App's is its installation's (named by
        its id, or by the repository it is looked up from). ConfigError for a bad App.
        """
        if config.forge != "github" or config.github_repo is None:
            return make_forge(config, self.settings)
        from leviathan_adapters.forge.github import github_client
        from leviathan_adapters.forge.rate_budget import RateBudget, budget_key
        from leviathan_adapters.forge.shared_cache import SharedCache
        from leviathan_adapters.github_credentials import app_tokens

        api_url = config.github_api_url
        tokens = app_tokens(self.settings, api_url, config.github_repo)
        token = self.settings.github_token
        secret = token.get_secret_value() if token is not None else None
        if tokens is not None:
            from leviathan_adapters.forge.github_app import InstallationAuth

            where = tokens.installation_id or config.github_repo
            identity: str | None = f"app:{tokens.app_id}:{where}"
            auth: Any = InstallationAuth(tokens)
        else:
            identity, auth = secret, None
        key = (api_url, budget_key(api_url, identity))
        with self._lock:
            if key not in self._github:
                client = github_client(api_url, secret, auth=auth)
                shared = (RateBudget(self.redis, key[1]), SharedCache(self.redis, key[1]))
                self._github[key] = (client, shared)
            client, (budget, cache) = self._github[key]
        return make_forge(config, self.settings, github=client, budget=budget, shared=cache)

    def backlog_for(self, config: AutonomyConfig, forge: Forge) -> BacklogReader:
        """The contents API for GitHub targets (``backlog_read``), else the git mirror."""
        if config.forge == "github" and config.backlog_read != "git":
            from leviathan_adapters.forge.github import GitHubForge
            from leviathan_adapters.forge.github_backlog import GitHubBacklogSource

            if isinstance(forge, GitHubForge):
                mirror = lambda: backlog_reader(config, self.settings)  # noqa: E731
                return GitHubBacklogSource(forge, config.target_branch, large=mirror)
        return backlog_reader(config, self.settings)

    def runs_for(self, config: AutonomyConfig) -> RunInspector | None:
        """Where the target's runs are read; one Kubernetes API client for every target."""
        if config.executor != "kubernetes":
            return runs_or_none(config, self.settings)
        from leviathan_adapters.runs.kubernetes import KubernetesRuns, load_batch_api

        with self._lock:
            if self._batch_api is None:
                try:
                    self._batch_api = load_batch_api()
                except ExecutorUnavailable as exc:  # tried again for the next target
                    log.warning("target %s: executor unavailable: %s", config.target_id, exc)
                    return None
            api = self._batch_api
        return KubernetesRuns(config.worker_namespace, api)

    def deps_for(self, config: AutonomyConfig) -> CycleDeps:
        """Cached clients for ``config``; raises ConfigError when the forge cannot be set up."""
        with self._lock:
            cached = self._deps.get(config.target_id)
        if cached is not None and cached[0] == config:
            return cached[1]
        forge = self.forge_for(config)
        deps = CycleDeps(
            redis=self.redis,
            control_plane=self.control_plane_for(config),
            forge=forge,
            backlog=self.backlog_for(config, forge),
            runs=self.runs_for(config) if self.with_executor else None,
            send_task=self.send_task,
            out=self.out,
        )
        with self._lock:
            self._deps[config.target_id] = (config, deps)
        return deps
