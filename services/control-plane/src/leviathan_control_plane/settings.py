"""Process settings of the control plane, read from ``LEVIATHAN_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from leviathan_core.config import ConfigError, load_configs


class SettingsError(RuntimeError):
    """The service cannot start with these settings; the message says what to set."""


class ControlPlaneSettings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LEVIATHAN_", extra="ignore")

    control_plane_token: SecretStr | None = None
    database_url: str | None = None
    data_dir: str = "./.leviathan-data"
    config: str | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_events: int = Field(default=1000, ge=1)
    log_level: str = "INFO"
    # GitHub webhooks (off while the secret is unset): the broker to queue cycles on.
    github_webhook_secret: SecretStr | None = None
    redis_url: str | None = None
    webhook_debounce_seconds: float = Field(default=10.0, ge=0)

    def token(self) -> str:
        """The bearer token, or a clear refusal when it is missing or blank."""
        value = self.control_plane_token.get_secret_value() if self.control_plane_token else ""
        if not value.strip():
            raise SettingsError(
                "LEVIATHAN_CONTROL_PLANE_TOKEN is not set: the control plane refuses to start "
                "without a bearer token (e.g. export LEVIATHAN_CONTROL_PLANE_TOKEN=dev-token)"
            )
        return value

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL; a SQLite file under the data dir when none is given."""
        if self.database_url:
            return self.database_url
        path = Path(self.data_dir).resolve() / "control-plane.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"

    def webhook_secret(self) -> bytes | None:
        """The webhook secret, or None when webhooks are off; refuses half a setup."""
        secret = self.github_webhook_secret.get_secret_value() if self.github_webhook_secret else ""
        if not secret.strip():
            return None
        missing = [
            name
            for name, value in (
                ("LEVIATHAN_REDIS_URL", self.redis_url),
                ("LEVIATHAN_CONFIG", self.config),
            )
            if not value
        ]
        if missing:
            raise SettingsError(
                f"LEVIATHAN_GITHUB_WEBHOOK_SECRET is set but {' and '.join(missing)} "
                "is not: webhooks need the target files and the broker to queue cycles on"
            )
        return secret.encode("utf-8")

    def check_config(self) -> None:
        """Refuse to start on target files that do not load (LEVIATHAN_CONFIG, a file or dir).

        Only checked here: webhooks read the files again on every delivery, and
        nothing else in the control plane depends on them (the breaker threshold
        is the scheduler's, read from the current files on every cycle).
        """
        if not self.config:
            return
        try:
            load_configs(self.config)
        except ConfigError as exc:
            raise SettingsError(f"LEVIATHAN_CONFIG: {exc}") from None
