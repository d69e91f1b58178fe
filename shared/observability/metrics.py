"""Prometheus metrics of one app, and the `/metrics` endpoint that renders them."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response


class Metrics:
    """A registry per app, so that several apps (tests, bench) can live in one process."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.service = service
        self.requests = Counter(
            "http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.tokens_issued = Counter(
            "oauth_tokens_issued",
            "Access tokens issued, by grant type.",
            ["grant_type"],
            registry=self.registry,
        )
        # The dashboard's other rows (deploy/grafana): audit events by name (sign-ins and their
        # failures among them; a fixed set of names), key set fetches, and how long a
        # revocation takes from its commit to a follower (resource service).
        self.audit_events = Counter(
            "audit_events", "Audit events recorded, by event.", ["event"], registry=self.registry
        )
        self.jwks_refreshes = Counter(
            "jwks_refreshes",
            "Fetches of the issuer's key set, by result (ok, failed).",
            ["result"],
            registry=self.registry,
        )
        self.revocation_propagation = Histogram(
            "revocation_propagation_seconds",
            "Seconds from a revocation's commit at the issuer to its arrival in this process.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return metrics.render()
