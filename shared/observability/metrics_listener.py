"""`/metrics` on an internal address of its own, so the public port need not expose it.

Operators scrape an instance's own port (bound to a private interface or loopback); the public
app then answers 404 for /metrics. prometheus_client's server runs in a daemon thread: a scrape
only renders the registry, and it keeps answering while the event loop is busy.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import start_http_server

from shared.observability.metrics import Metrics


class MetricsListener:
    def __init__(self, metrics: Metrics, *, host: str, port: int | None) -> None:
        self._metrics, self._host, self._port = metrics, host, port
        self._server: Any = None

    def start(self) -> None:
        """Bind now: a port already taken fails start-up rather than hiding the metrics."""
        if self._port is None:
            return
        self._server, _thread = start_http_server(
            self._port, addr=self._host, registry=self._metrics.registry
        )

    async def aclose(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)  # waits for its loop to stop
            self._server.server_close()
            self._server = None


def start_metrics_listener(metrics: Metrics, *, host: str, port: int | None) -> MetricsListener:
    """The listener, started; with no port it does nothing (metrics stay on the public app)."""
    listener = MetricsListener(metrics, host=host, port=port)
    listener.start()
    return listener
