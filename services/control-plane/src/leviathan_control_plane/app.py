"""The app factory: settings in, a ready ASGI app out (migrations already applied)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from leviathan_control_plane.auth import require_token
from leviathan_control_plane.database import make_engine, migrate
from leviathan_control_plane.errors import install_handlers
from leviathan_control_plane.github_webhooks import GitHubHooks, TickSender
from leviathan_control_plane.metrics import Metrics
from leviathan_control_plane.middleware import BodyLimit, RequestContext
from leviathan_control_plane.openapi import build_openapi
from leviathan_control_plane.queries import Reader
from leviathan_control_plane.routers import events, ops, reads, webhooks
from leviathan_control_plane.services import Services
from leviathan_control_plane.settings import ControlPlaneSettings
from leviathan_control_plane.store import EventStore
from leviathan_control_plane.strict_query import reject_unknown_query


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
    metrics = Metrics(reader)
    hooks = _github_hooks(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()
        if hooks is not None:
            hooks.sender.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Leviathan control plane",
        version="1.0.0",
        description="Append-only event log, projections and the facts the scheduler reads.",
    )
    app.state.services = Services(
        engine=engine,
        store=EventStore(engine),
        reader=reader,
        metrics=metrics,
        token=token,
        max_batch_events=settings.max_batch_events,
        webhooks=hooks,
    )
    install_handlers(app)
    strict = Depends(reject_unknown_query)
    app.include_router(ops.router, dependencies=[strict])
    app.include_router(events.router, dependencies=[Depends(require_token), strict])
    app.include_router(reads.router, dependencies=[Depends(require_token), strict])
    app.include_router(webhooks.router, dependencies=[strict])  # HMAC-signed instead
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestContext, metrics=metrics)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


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
