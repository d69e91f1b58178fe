"""OpenTelemetry tracing for both services (issue 17, "Traces"): off unless
OTEL_EXPORTER_OTLP_ENDPOINT is set, then every request, SQL statement, outgoing httpx request
and Redis command is a span, exported over OTLP/HTTP with the official instrumentation.

Spans carry the route, and at the token endpoint the client id and grant type; never a token
or a secret. The ASGI instrumentation records the request URL with its query string, and a
query can hold a mailed link's token (/password/reset?token=...) or an authorization code
(a callback): the hooks here cut every query from what is recorded, server side and client
side. Redis commands are recorded as "COMMAND ? ?" by the instrumentation itself, and SQL
statements with placeholders, not values.

Off, nothing of the SDK is imported and nothing is instrumented: the only cost left is the
API's no-op `get_current_span()` at the token endpoint.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace

# Health and metrics pages are scraped every few seconds: spans of them would bury the rest.
EXCLUDED_URLS = "healthz,readyz,metrics"
# The URL attributes of both generations of the HTTP semantic conventions.
_URL_ATTRIBUTES = ("http.url", "url.full")
_TARGET_ATTRIBUTES = ("http.target",)
_QUERY_ATTRIBUTES = ("url.query",)


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _redact(span: Any) -> None:
    """Cut the query out of every URL attribute the instrumentation set on `span`."""
    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        if isinstance(attributes.get(name), str):
            span.set_attribute(name, without_query(attributes[name]))
    for name in _TARGET_ATTRIBUTES:
        if isinstance(attributes.get(name), str):
            span.set_attribute(name, attributes[name].split("?", 1)[0])
    for name in _QUERY_ATTRIBUTES:
        if name in attributes:
            span.set_attribute(name, "")


def _server_request_hook(span: Any, scope: dict[str, Any]) -> None:
    _redact(span)


def _client_request_hook(span: Any, request: Any) -> None:
    _redact(span)


def set_span_attributes(**values: str | None) -> None:
    """Describe the current request's span (a no-op when tracing is off)."""
    span = trace.get_current_span()
    if span.is_recording():
        for name, value in values.items():
            if value is not None:
                span.set_attribute(name, value)


class Tracing:
    """One service's tracing: a tracer provider and the instrumentation it turned on."""

    def __init__(self, provider: Any | None) -> None:
        self.provider = provider
        self._instrumentors: list[Any] = []

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    @classmethod
    def from_settings(
        cls, service_name: str, *, endpoint: str | None, traces_endpoint: str | None
    ) -> Tracing:
        """OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full URL; OTEL_EXPORTER_OTLP_ENDPOINT the
        base, under which OTLP/HTTP puts traces at /v1/traces (OTLP exporter specification)."""
        url = traces_endpoint or (f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None)
        if url is None:
            return cls(None)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # Headers and timeout still come from the other standard OTEL_EXPORTER_OTLP_* variables.
        return cls.with_processor(service_name, BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))

    @classmethod
    def with_processor(cls, service_name: str, processor: Any) -> Tracing:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        provider.add_span_processor(processor)
        return cls(provider)

    def instrument_app(self, app: Any) -> None:
        if self.provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls=EXCLUDED_URLS,
            server_request_hook=_server_request_hook, exclude_spans=["receive", "send"],
        )  # fmt: skip

    def start(self, engine: Any, *, redis: bool) -> None:
        """At start-up, once the engine exists: SQL, outgoing httpx and (if used) Redis."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        sql = SQLAlchemyInstrumentor()
        # Its declared range ends before SQLAlchemy 2.1, which we require; the engine events it
        # listens to are unchanged in 2.1 (the tests here check the spans it makes).
        sql.instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )
        http = HTTPXClientInstrumentor()
        http.instrument(tracer_provider=self.provider, request_hook=_client_request_hook)
        self._instrumentors += [sql, http]
        if redis:
            from opentelemetry.instrumentation.redis import RedisInstrumentor

            cache = RedisInstrumentor()
            cache.instrument(tracer_provider=self.provider)
            self._instrumentors.append(cache)

    def stop(self) -> None:
        """At shutdown: undo the instrumentation (it is process-wide) and flush the spans."""
        for instrumentor in self._instrumentors:
            instrumentor.uninstrument()
        self._instrumentors.clear()
        if self.provider is not None:
            self.provider.force_flush()
