"""Change engines: what an attempt changes in the checkout, chosen by ``change_engine``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from leviathan_core.config import AutonomyConfig
from leviathan_worker.confine import Confinement
from leviathan_worker.engines.agent import AgentEngine, AgentSettings
from leviathan_worker.engines.backlog_propose import BacklogProposeEngine
from leviathan_worker.engines.base import ChangeContext, ChangeEngine, EngineError
from leviathan_worker.engines.command import CommandEngine
from leviathan_worker.engines.docs_template import DocsTemplateEngine

__all__ = ["ChangeContext", "ChangeEngine", "EngineError", "make_engine"]


def make_engine(
    config: AutonomyConfig, *, hidden: Sequence[Path] = (), contained: bool = False
) -> ChangeEngine:
    """The engine the target's configuration names.

    ``hidden``: the worker's private paths, masked in the command and agent engines' sandbox.
    ``contained``: the process already runs where no secret is (the Job's engine
    container, another uid, only the engine's volume), which is the sandbox there.
    """
    if config.change_engine == "docs-template":
        return DocsTemplateEngine()
    if config.change_engine == "command":
        if not config.change_command:
            raise EngineError("change_engine is 'command' but change_command is not set")
        return CommandEngine(
            config.change_command,
            config.change_command_timeout_seconds,
            hidden=hidden,
            network=bool(config.engine_network),
            allow_unsandboxed=config.allow_unsandboxed_engine,
            contained=contained,
        )
    if config.change_engine == "agent":
        confinement = Confinement(
            tuple(hidden), True, config.allow_unsandboxed_engine or contained, contained
        )
        return AgentEngine(AgentSettings.of(config), confinement)
    return BacklogProposeEngine()
