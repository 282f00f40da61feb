"""Prometheus metrics, one registry per app so tests can build many apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "liveclass_http_requests_total",
            "HTTP requests handled, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "liveclass_http_request_duration_seconds",
            "Time to handle an HTTP request, by route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "liveclass_auth_failures_total",
            "Requests refused for missing or bad credentials, by error code.",
            ["code"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
