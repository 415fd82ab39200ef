"""Prometheus metrics at /metrics: requests, latencies, events processed, consumer lag where known."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from iotmon.service.openapi import Reply, documented

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Any other method a client makes up is counted as OTHER: one label value each would grow /metrics without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RouterFigures(Protocol):
    """What the metrics read of the local router (eventing.router), or of several added up (iotmon.workers)."""

    @property
    def counts(self) -> Mapping[str, int]: ...

    def lag(self) -> Mapping[tuple[str, str], int]: ...


class Metrics:
    """One registry per service instance (several run side by side in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "iotmon_http_requests", "HTTP requests answered", ["method", "endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "iotmon_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "OTHER"
        self.requests.labels(method, endpoint, str(status)).inc()
        self.latency.labels(method, endpoint).observe(seconds)

    def watch_router(self, router: RouterFigures) -> None:
        self.registry.register(RouterCollector(router))

    @documented(
        responses={200: Reply("Prometheus text exposition format.", media_type="text/plain")},
        operation_id="prometheus_metrics",
    )
    async def endpoint(self, _request: Request) -> Response:
        """Prometheus metrics: request rates and latencies per endpoint, router events, consumer lag."""
        body = await run_in_threadpool(generate_latest, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


class RouterCollector:
    """Events the local router delivered, retried and dead-lettered, and how far its consumers lag."""

    def __init__(self, router: RouterFigures) -> None:
        self.router = router

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        events = CounterMetricFamily("iotmon_router_events", "Events handled by the local router", labels=["outcome"])
        counts = self.router.counts
        for outcome in ("delivered", "retried", "dead_lettered"):
            events.add_metric([outcome], counts.get(outcome, 0))
        yield events
        lag = GaugeMetricFamily(
            "iotmon_consumer_lag", "Records not yet consumed, per group and topic", labels=["group", "topic"]
        )
        for (group, topic), behind in self.router.lag().items():
            lag.add_metric([group, topic], behind)
        yield lag
