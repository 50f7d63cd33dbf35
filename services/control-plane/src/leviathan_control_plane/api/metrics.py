"""Prometheus metrics, on a registry per app so several apps can share a process."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from leviathan_control_plane.queries.reader import Reader

log = logging.getLogger("leviathan.control_plane")


class BreakerCollector(Collector):
    """Reads failure counts from the targets projection at scrape time (survives restarts).

    Counts only: whether a breaker is open is decided by the scheduler with the
    target's current threshold, so alert on this count against that threshold.
    """

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def collect(self) -> Iterator[Metric]:
        failures = GaugeMetricFamily(
            "leviathan_consecutive_failures",
            "Consecutive failed attempts per target",
            labels=["target"],
        )
        try:
            infos, _ = self.reader.targets()
        except Exception:  # a scrape must not fail because the database blinked
            log.warning("breaker metrics unavailable: database not reachable")
            infos = []
        for info in infos:
            failures.add_metric([info.target_id], float(info.consecutive_failures))
        yield failures


class Metrics:
    """The service's counters and histograms, on a registry of its own."""

    def __init__(self, reader: Reader) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "leviathan_events_ingested",
            "Events appended to the log, by type",
            ["type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leviathan_http_request_duration_seconds",
            "Request latency by route",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.webhooks = Counter(
            "leviathan_webhooks",
            "GitHub webhook deliveries by event and outcome (queued, debounced, ignored, "
            "pong, unsigned, failed)",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.registry.register(BreakerCollector(reader))
