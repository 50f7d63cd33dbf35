"""Prometheus metrics, on a registry per app so several apps can share a process."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from leviathan_control_plane.queries.reader import Reader
from leviathan_core.constants import QUEUE_DISPATCH, QUEUE_SCHEDULER

log = logging.getLogger("leviathan.control_plane")
QUEUE_METRIC = "leviathan_queue_messages"  # what overlays/autoscale's HPA follows


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


class QueueCollector(Collector):
    """Messages waiting in each Leviathan queue, read from the broker at scrape time.

    ``leviathan_queue_messages{queue="leviathan.scheduler"}`` is what the
    selection workers' autoscaler follows (``ops/k8s/scaling/``): a backlog of
    ticks means the workers fall behind the window. Celery's Redis transport
    keeps a queue's messages in a list named after it. An unreachable broker
    leaves the gauge out of the scrape rather than failing it.
    """

    def __init__(self, redis_url: str, queues: tuple[str, ...]) -> None:
        from redis import Redis

        self.redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.queues = queues

    def collect(self) -> Iterator[Metric]:
        from redis.exceptions import RedisError

        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for queue in self.queues:
                    pipe.llen(queue)
                lengths = pipe.execute()
        except RedisError as exc:
            log.warning("queue metrics unavailable: %s", exc)
            return
        gauge = GaugeMetricFamily(
            QUEUE_METRIC, "Messages waiting in a Celery queue", labels=["queue"]
        )
        for queue, length in zip(self.queues, lengths, strict=True):
            gauge.add_metric([queue], float(length))
        yield gauge


class Metrics:
    """The service's counters and histograms, on a registry of its own."""

    def __init__(self, reader: Reader, redis_url: str | None = None) -> None:
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
        if redis_url:
            self.registry.register(QueueCollector(redis_url, (QUEUE_SCHEDULER, QUEUE_DISPATCH)))
