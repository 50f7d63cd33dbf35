"""The app factory: settings in, a ready ASGI app out (migrations already applied).

The composition root: it builds the log's engine and store, the read side,
the metrics and the webhook sender, and hands them to the HTTP layer (api.app).
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from leviathan_control_plane.api.app import build_api
from leviathan_control_plane.api.metrics import Metrics
from leviathan_control_plane.api.services import Services
from leviathan_control_plane.log.database import make_engine, migrate
from leviathan_control_plane.log.store import EventStore
from leviathan_control_plane.queries.reader import Reader
from leviathan_control_plane.settings import ControlPlaneSettings
from leviathan_control_plane.webhooks.ticks import GitHubHooks, TickSender


def create_app(
    settings: ControlPlaneSettings | None = None, *, run_migrations: bool = True
) -> FastAPI:
    """Build the app; refuses (SettingsError) without a token or with a broken config."""
    settings = settings or ControlPlaneSettings()
    token = settings.token().encode("utf-8")
    settings.check_config()
    engine = make_engine(settings.resolved_database_url())
    if run_migrations:
        migrate(engine)
    reader = Reader(engine)
    hooks = _github_hooks(settings)
    services = Services(
        engine=engine,
        store=EventStore(engine),
        reader=reader,
        metrics=Metrics(reader, settings.redis_url),
        token=token,
        max_batch_events=settings.max_batch_events,
        webhooks=hooks,
    )

    def close() -> None:
        engine.dispose()
        if hooks is not None:
            hooks.sender.close()

    return build_api(services, max_body_bytes=settings.max_body_bytes, close=close)


def _github_hooks(settings: ControlPlaneSettings) -> GitHubHooks | None:
    secret = settings.webhook_secret()
    if secret is None:
        return None
    assert settings.redis_url is not None and settings.config is not None  # webhook_secret()
    sender = TickSender(settings.redis_url, settings.webhook_debounce_seconds)
    return GitHubHooks(secret, settings.config, sender)


def freeze_startup_heap() -> None:
    """Move the objects built at start-up out of the collector's sight.

    A batch of a thousand events keeps tens of thousands of objects alive for a
    moment, which triggers full collections; each one would walk every module,
    model and mapper loaded at start-up (over 100 ms) though none of them is
    garbage. Call once in a server process, after the app is built.
    """
    gc.collect()
    gc.freeze()
