"""What the request handlers share: store, reader, metrics and limits."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from leviathan_control_plane.api.metrics import Metrics
from leviathan_control_plane.log.store import EventStore
from leviathan_control_plane.queries.reader import Reader
from leviathan_control_plane.webhooks.ticks import GitHubHooks


@dataclass
class Services:
    """Built once per app (app.create_app); routes reach it through ``get_services``."""

    engine: Engine
    store: EventStore
    reader: Reader
    metrics: Metrics
    token: bytes
    max_batch_events: int
    webhooks: GitHubHooks | None = None  # None: webhooks are off


def get_services(request: Request) -> Services:
    """FastAPI dependency: the serving app's services."""
    services: Services = request.app.state.services
    return services
