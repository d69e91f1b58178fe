"""Per-request context: the request id in and out, metrics by route template, one access-log line."""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from shared.asgi import ASGIApp, Message, Receive, Scope, Send
from shared.observability.logs import request_id_var
from shared.observability.metrics import Metrics

_INCOMING_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
access_logger = logging.getLogger("access")
# Machines poll these every few seconds; their successes are logged at DEBUG, so the log shows
# what people and apps did. Failures are logged at INFO like any other request.
_POLLED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/oauth/revocations"})


class RequestContextMiddleware:
    """Pure ASGI: request id in and out, metrics by route template, and one access-log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # Label children looked up once: prometheus' labels() costs more than the increment.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or secrets.token_hex(8)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(scope)
            self._record(route, scope["method"], status, elapsed)
            polled = status < 400 and scope["path"] in _POLLED_PATHS
            level = logging.DEBUG if polled else logging.INFO
            if access_logger.isEnabledFor(level):
                # The path only: query strings and bodies may carry credentials.
                access_logger.log(
                    level,
                    "%s %s %s %.1fms",
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                    extra={"fields": {"status": status, "route": route}},
                )
            request_id_var.reset(token)

    def _record(self, route: str, method: str, status: int, elapsed: float) -> None:
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = self.metrics.requests.labels(route, method, str(status))
            self._counters[(route, method, status)] = counter
        histogram = self._histograms.get(route)
        if histogram is None:
            histogram = self._histograms[route] = self.metrics.latency.labels(route)
        counter.inc()
        histogram.observe(elapsed)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _INCOMING_ID.fullmatch(candidate) else None
    return None


def _route_label(scope: Scope) -> str:
    """The matched route's path template, never the raw path (unbounded label values). A plain
    Starlette route in a FastAPI app leaves scope["route"] unset (FastAPI 0.165), so such an
    endpoint may name its template itself, as `route_path`."""
    path = getattr(scope.get("route"), "path", None) or getattr(
        scope.get("endpoint"), "route_path", None
    )
    return path if isinstance(path, str) else "<unmatched>"
