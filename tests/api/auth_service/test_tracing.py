"""OpenTelemetry traces (issue 17): with an exporter (here the SDK's in-memory one), a token
request is a server span with its route, client id and grant type and the SQL beneath it; no
span holds a secret or token; a mailed link's query never reaches a span. Off by default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from auth_service.config import AuthSettings
from auth_service.main import create_app
from shared.models import SigningKey
from shared.observability.tracing import Tracing
from tests.conftest import ISSUER
from tests.factories import TestClient, make_client
from tests.support.clock import TestClock
from tests.support.db import Database


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(
    settings: AuthSettings, db: Database, signing_key: SigningKey, clock: TestClock,
    exporter: InMemorySpanExporter,
) -> AsyncIterator[httpx.AsyncClient]:  # fmt: skip
    tracing = Tracing.with_processor("auth_service", SimpleSpanProcessor(exporter))
    app = create_app(settings, clock=clock, tracing=tracing)
    async with LifespanManager(app):
        exporter.clear()  # the start-up's own SQL (signing keys, the revocation feed)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
            yield client


def every_value(spans: Any) -> str:
    return " ".join(
        f"{span.name} {dict(span.attributes or {})} {[dict(e.attributes or {}) for e in span.events]}"
        for span in spans
    )


async def test_a_token_request_is_a_span_with_route_client_and_grant_and_its_sql_beneath(
    traced: httpx.AsyncClient, db: Database, exporter: InMemorySpanExporter
) -> None:
    service: TestClient = await make_client(
        db, grant_types=["client_credentials"], scope="read:notes"
    )
    assert service.secret is not None

    response = await traced.post(
        "/oauth/token", data={"grant_type": "client_credentials", "scope": "read:notes"},
        auth=(service.client_id, service.secret),
    )  # fmt: skip

    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    attributes = dict(server.attributes or {})
    assert attributes["http.route"] == "/oauth/token"
    assert attributes["oauth.client_id"] == service.client_id
    assert attributes["oauth.grant_type"] == "client_credentials"
    assert server.resource.attributes["service.name"] == "auth_service"
    sql = [s for s in spans if s.kind == SpanKind.CLIENT and "db.system" in (s.attributes or {})]
    # The client's row was read for this request (the cache was cold): its SQL is in the trace.
    # (Other SQL spans are the background followers' own traces.)
    assert [s for s in sql if s.context.trace_id == server.context.trace_id]
    text = every_value(spans)
    assert service.secret not in text
    assert response.json()["access_token"] not in text


async def test_a_mailed_links_query_never_reaches_a_span(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    await traced.get("/password/reset?token=s3cr3t-reset-token-value")
    await traced.get("/email/verify?token=an0ther-secret-value")

    text = every_value(exporter.get_finished_spans())
    assert exporter.get_finished_spans()
    assert "s3cr3t-reset-token-value" not in text and "an0ther-secret-value" not in text


async def test_health_pages_make_no_spans(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    assert (await traced.get("/healthz")).status_code == 200

    assert [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER] == []


def test_tracing_is_on_only_with_an_otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert AuthSettings(_env_file=None).otel_endpoint is None  # type: ignore[call-arg]
    assert not Tracing.from_settings("a", endpoint=None, traces_endpoint=None).enabled
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    settings = AuthSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.otel_endpoint == "http://127.0.0.1:4318"
    on = Tracing.from_settings("a", endpoint=settings.otel_endpoint, traces_endpoint=None)
    assert on.enabled
    exporter = on.provider._active_span_processor._span_processors[0].span_exporter  # type: ignore[union-attr]
    assert exporter._endpoint == "http://127.0.0.1:4318/v1/traces"
    on.provider.shutdown()  # type: ignore[union-attr]


def test_an_app_made_without_tracing_has_no_otel_middleware(settings: AuthSettings) -> None:
    app: FastAPI = create_app(settings)
    assert "OpenTelemetry" not in repr(app.user_middleware)
