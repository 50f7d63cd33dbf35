"""The HTTP assembly: one FastAPI app over the services, with its routes,
error handlers, middleware and OpenAPI document.

The token guards every route but operations and the webhook (HMAC-signed
instead; the dashboard also takes a session cookie made from it); unknown
query parameters are refused on every route of the JSON API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from leviathan_control_plane.api import ops, reads, webhooks, writes
from leviathan_control_plane.api.auth import require_token
from leviathan_control_plane.api.errors import install_handlers
from leviathan_control_plane.api.middleware import BodyLimit, RequestContext
from leviathan_control_plane.api.openapi import build_openapi
from leviathan_control_plane.api.services import Services
from leviathan_control_plane.api.strict_query import reject_unknown_query
from leviathan_control_plane.dashboard import mount as mount_dashboard


def build_api(services: Services, *, max_body_bytes: int, close: Callable[[], None]) -> FastAPI:
    """The app serving ``services``; ``close`` runs when the server shuts it down."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        close()

    app = FastAPI(
        lifespan=lifespan,
        title="Leviathan control plane",
        version="1.0.0",
        description="Append-only event log, projections and the facts the scheduler reads.",
    )
    app.state.services = services
    install_handlers(app)
    strict = Depends(reject_unknown_query)
    token = Depends(require_token)
    app.include_router(ops.router, dependencies=[strict])
    app.include_router(writes.router, dependencies=[token, strict])
    app.include_router(reads.router, dependencies=[token, strict])
    app.include_router(webhooks.router, dependencies=[strict])  # HMAC-signed instead
    mount_dashboard(app)  # HTML pages over the read side; token or session cookie
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(RequestContext, metrics=services.metrics)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app
