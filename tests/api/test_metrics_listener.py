"""`/metrics` on an internal port (AUTH_METRICS_PORT, RESOURCE_METRICS_PORT): served there on a
real socket, 404 on the public app, closed with the app (issue 13, part 7)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.main import create_app as create_auth_app
from resource_service.config import ResourceSettings
from resource_service.main import create_app as create_resource_app
from shared.models import SigningKey
from tests.conftest import AUDIENCE, ISSUER
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.live import free_port


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: AuthSettings, metrics_port: int) -> AuthSettings:
    return settings.model_copy(update={"metrics_port": metrics_port})


async def scrape(port: int) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(f"http://127.0.0.1:{port}/metrics")


async def test_auth_metrics_are_served_on_the_internal_port_only(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, metrics_port: int
) -> None:
    assert (await auth_client.get("/healthz")).status_code == 200

    public = await auth_client.get("/metrics")
    internal = await scrape(metrics_port)

    assert public.status_code == 404, public.text
    assert "http_requests" not in public.text
    assert internal.status_code == 200, internal.text
    assert internal.headers["content-type"].startswith("text/plain")
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in internal.text


async def test_auth_metrics_port_closes_with_the_app(
    settings: AuthSettings,
    db: Database,
    signing_key: SigningKey,
    clock: TestClock,
    metrics_port: int,
) -> None:
    app = create_auth_app(settings, clock=clock)
    async with LifespanManager(app):
        assert (await scrape(metrics_port)).status_code == 200

    with pytest.raises(httpx.ConnectError):
        await scrape(metrics_port)


def test_auth_metrics_port_equal_to_the_public_port_is_refused(settings: AuthSettings) -> None:
    with pytest.raises(ValueError, match="AUTH_METRICS_PORT must differ from AUTH_PORT"):
        AuthSettings.model_validate({**settings.model_dump(), "metrics_port": settings.port})


@pytest.fixture
async def resource_app_with_metrics_port(
    resource_settings: ResourceSettings, auth_app: FastAPI, clock: TestClock
) -> AsyncIterator[tuple[FastAPI, int]]:
    port = free_port()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=auth_app), base_url=ISSUER)
    settings = resource_settings.model_copy(update={"metrics_port": port})
    app = create_resource_app(settings, clock=clock, http_client=http)
    try:
        async with LifespanManager(app):
            yield app, port
    finally:
        await http.aclose()


async def test_resource_metrics_are_served_on_the_internal_port_only(
    resource_app_with_metrics_port: tuple[FastAPI, int],
) -> None:
    app, port = resource_app_with_metrics_port
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=AUDIENCE) as resource:
        assert (await resource.get("/healthz")).status_code == 200
        public = await resource.get("/metrics")

    internal = await scrape(port)

    assert public.status_code == 404, public.text
    assert internal.status_code == 200, internal.text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in internal.text
