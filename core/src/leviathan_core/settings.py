"""Process settings: where a Leviathan process finds Redis, the control plane, its files.

Read from ``LEVIATHAN_*`` variables only (an ``env`` file only when one is
given); the target files themselves are ``leviathan_core.config``. Which
``env`` file a command also reads is its entry point's choice
(``leviathan_adapters.process_settings``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from leviathan_core.config import AutonomyConfig, ConfigError


class Settings(BaseSettings):
    """Process settings from ``LEVIATHAN_*`` variables (an ``env`` file only when given).

    Which file a process also reads is its entry point's choice
    (``leviathan_adapters.process_settings``); the model bakes in no path of
    a development checkout.
    """

    model_config = SettingsConfigDict(env_prefix="LEVIATHAN_", extra="ignore")

    # The target file, or a folder of them; required by everything that serves targets.
    config: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str | None = None
    control_plane_url: str | None = None
    control_plane_token: SecretStr | None = None
    data_dir: str = "./.leviathan-data"
    cache_dir: str = "./.leviathan-cache"
    spool_dir: str | None = None
    # How often beat looks at the target files again (0: only when it starts).
    beat_reload_seconds: float = Field(default=30.0, ge=0)
    github_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GITHUB_TOKEN", "LEVIATHAN_GITHUB_TOKEN")
    )

    def control_plane_for(self, config: AutonomyConfig) -> str:
        """The environment's URL wins over the file's (a process knows where it runs)."""
        return (self.control_plane_url or config.control_plane_url).rstrip("/")

    def broker_url(self) -> str:
        """``redis_url`` when configured; an error naming the ways to configure it.

        The field's localhost default suits a command that reports an
        unreachable Redis, never a Celery app: a worker, ``purge`` or
        ``control`` aimed at whatever Redis happens to listen on 6379 would act
        on someone else's queues.
        """
        if "redis_url" not in self.model_fields_set:
            raise ConfigError(
                "no broker configured: set LEVIATHAN_REDIS_URL, or run from the directory "
                "of a `make run` (its .leviathan-run/env), or set LEVIATHAN_RUN_DIR to that "
                "run directory"
            )
        return self.redis_url

    def config_path(self) -> str:
        """``config``, or an error naming how to set it."""
        if not self.config:
            raise ConfigError(
                "no target configuration: set LEVIATHAN_CONFIG to a target file or a folder "
                "of them (e.g. ops/autonomy/dev.yaml), or run from the directory of a "
                "`make run` (its .leviathan-run/env), or set LEVIATHAN_RUN_DIR"
            )
        return self.config

    def spool_path(self) -> Path:
        return Path(self.spool_dir or Path(self.data_dir) / "spool")
