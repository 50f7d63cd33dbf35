"""What the request handlers share: store, reader, metrics and limits."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from leviathan_control_plane.github_webhooks import GitHubHooks
from leviathan_control_plane.metrics import Metrics
from leviathan_control_plane.queries import Reader
from leviathan_control_plane.store import EventStore


@dataclass
class Services:
    engine: Engine
    store: EventStore
    reader: Reader
    metrics: Metrics
    token: bytes
    max_batch_events: int
    webhooks: GitHubHooks | None = None  # None: webhooks are off


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
