"""Process settings: where a Leviathan process finds Redis, the control plane, its files.

Read from ``LEVIATHAN_*`` variables only (an ``env`` file only when one is
given); the target files themselves are ``leviathan_core.config``. Which
``env`` file a command also reads is its entry point's choice
(``leviathan_adapters.process_settings``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from leviathan_core.config import AutonomyConfig, ConfigError
from leviathan_core.github_auth import AuthMode, GitHubApp, auth_mode, read_private_key


class Settings(BaseSettings):
    """Process settings from ``LEVIATHAN_*`` variables (an ``env`` file only when given).

    Which file a process also reads is its entry point's choice
    (``leviathan_adapters.process_settings``); the model bakes in no path of
    a development checkout.
    """

    # hide_input_in_errors: a refusal must not print the key or token it was given.
    model_config = SettingsConfigDict(
        env_prefix="LEVIATHAN_", extra="ignore", hide_input_in_errors=True
    )

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
    # A GitHub App instead of the token (leviathan_core.github_auth; never both).
    github_app_id: int | None = Field(default=None, gt=0, validation_alias="GITHUB_APP_ID")
    github_app_private_key: SecretStr | None = Field(
        default=None, validation_alias="GITHUB_APP_PRIVATE_KEY"
    )
    github_app_private_key_file: str | None = Field(
        default=None, validation_alias="GITHUB_APP_PRIVATE_KEY_FILE"
    )
    github_app_installation_id: int | None = Field(
        default=None, gt=0, validation_alias="GITHUB_APP_INSTALLATION_ID"
    )

    @field_validator(
        "github_app_id", "github_app_private_key", "github_app_private_key_file",
        "github_app_installation_id", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``GITHUB_APP_INSTALLATION_ID=`` (compose's ``${X:-}``) means not set."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _one_github_credential(self) -> Settings:
        self.github_auth()  # a half-configured App or two credentials refuse the start
        return self

    def github_auth(self) -> AuthMode:
        """``token``, ``app`` or ``none``; an error names the variable to fix."""
        return auth_mode(
            token=self.github_token,
            app_id=self.github_app_id,
            key=self.github_app_private_key,
            key_file=self.github_app_private_key_file,
            installation_id=self.github_app_installation_id,
        )

    def github_app(self) -> GitHubApp | None:
        """The configured App with its key read (from the variable or the file), or None."""
        if self.github_auth() != "app" or self.github_app_id is None:
            return None
        key = read_private_key(self.github_app_private_key, self.github_app_private_key_file)
        return GitHubApp(self.github_app_id, key, self.github_app_installation_id)

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
