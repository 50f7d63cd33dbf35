"""The dispatcher's wiring: settings in, an ``Outcome`` per raw message out.

Executors and control-plane clients are made once per process and reused;
the target configuration is read again for every message, so an edited file
applies without a restart. The factories are parameters so tests can pass
real servers' clients without touching the environment.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from leviathan_adapters.control_plane_client import ControlPlaneClient
from leviathan_core.config import AutonomyConfig, ConfigError, load_configs
from leviathan_core.runs import ExecutorRejected, ExecutorUnavailable
from leviathan_core.settings import Settings
from leviathan_dispatch.dispatch import (
    Dispatch,
    EventSink,
    InvalidMessage,
    Outcome,
    fail,
    failed_event,
    parse_message,
    post,
    record_failure,
    start_attempt,
    unavailable,
)
from leviathan_dispatch.executors.base import Executor
from leviathan_dispatch.executors.factory import make_executor

log = logging.getLogger(__name__)

ExecutorFactory = Callable[[AutonomyConfig, Settings], Executor]
SinkFactory = Callable[[str, Settings], EventSink]


def default_executor(config: AutonomyConfig, settings: Settings) -> Executor:
    """The configured executor; Jobs point workers at the control plane named in the file.

    The file describes the cluster the Job runs in, while the dispatcher's own
    ``LEVIATHAN_CONTROL_PLANE_URL`` says where the dispatcher itself reaches it.
    """
    return make_executor(config, settings)


def default_sink(url: str, settings: Settings) -> EventSink:
    """A control-plane client that spools to its own file when the control plane is away."""
    spool = settings.spool_path() / "dispatcher.jsonl"
    return ControlPlaneClient(url, settings.control_plane_token, spool_path=spool)


class Runtime:
    """Resolves config, executor and sink for each message and runs the dispatch."""

    def __init__(
        self,
        settings: Settings,
        *,
        executor_factory: ExecutorFactory = default_executor,
        sink_factory: SinkFactory = default_sink,
        say: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.executor_factory = executor_factory
        self.sink_factory = sink_factory
        self.say = say
        self._executors: dict[str, Executor] = {}
        self._sinks: dict[str, EventSink] = {}

    def sink(self, url: str | None) -> EventSink | None:
        if not url:
            return None
        if url not in self._sinks:
            self._sinks[url] = self.sink_factory(url, self.settings)
        return self._sinks[url]

    def executor(self, config: AutonomyConfig) -> Executor:
        key = config.model_dump_json()  # a changed file gets a fresh executor
        if key not in self._executors:
            self._executors[key] = self.executor_factory(config, self.settings)
        return self._executors[key]

    def config_for(self, target_id: str) -> AutonomyConfig:
        configs = load_configs(self.settings.config_path())
        if target_id not in configs:
            known = ", ".join(sorted(configs)) or "none"
            raise ConfigError(
                f"{self.settings.config_path()}: target {target_id!r} is not configured "
                f"(known: {known})"
            )
        return configs[target_id]

    def handle(self, raw: object, retries_done: int = 0) -> Outcome:
        """Everything for one delivery; never raises for bad input or a bad backend."""
        try:
            message = parse_message(raw)
        except InvalidMessage as exc:
            return self._reject(exc)
        try:
            config = self.config_for(message.target_id)
        except ConfigError as exc:
            sink = self.sink(self.settings.control_plane_url)
            return record_failure(message, sink, f"configuration problem: {exc}", self.say)
        sink = self.sink(self.settings.control_plane_for(config))
        job = Dispatch(message, config, sink, retries_done, self.say)
        try:
            executor = self.executor(config)
        except ExecutorRejected as exc:
            return fail(job, str(exc))
        except ExecutorUnavailable as exc:
            return unavailable(job, exc)
        return start_attempt(job, executor)

    def _reject(self, exc: InvalidMessage) -> Outcome:
        """Log, report when the message names an attempt, and drop it for good."""
        log.error("rejecting dispatch message: %s", exc)
        url = self.settings.control_plane_url
        target = exc.ids.get("target_id")
        if target is not None:
            with contextlib.suppress(ConfigError):
                url = self.settings.control_plane_for(self.config_for(target))
        event = failed_event(exc.ids, str(exc))
        if event is not None:
            post(self.sink(url), event)
        return Outcome("reject", "invalid", str(exc))
