"""Health, readiness, metrics, request ids, and how failures look from outside."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.database import make_engine, make_sessionmaker
from tests.factories import make_client
from tests.support.db import Database


async def test_operations_healthz_readyz_and_request_id(auth_client: httpx.AsyncClient) -> None:
    assert (await auth_client.get("/healthz")).json() == {"status": "ok"}
    ready = await auth_client.get("/readyz", headers={"X-Request-ID": "abc-123"})
    assert ready.json() == {"status": "ok", "database": "ok"}
    assert ready.headers["x-request-id"] == "abc-123"
    generated = await auth_client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"
    assert len(generated.headers["x-request-id"]) == 16


async def test_operations_metrics_count_requests_by_route_and_status(
    auth_client: httpx.AsyncClient,
) -> None:
    await auth_client.get("/healthz")
    await auth_client.get("/no-such-page")
    body = (await auth_client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in body
    assert 'route="<unmatched>",status="404"' in body
    assert "http_request_duration_seconds_bucket" in body
    assert "oauth_tokens_issued_total" in body or "oauth_tokens_issued" in body


async def test_operations_database_outage_gives_fast_503_with_retry_after(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database
) -> None:
    client = await make_client(db)
    # Point the app at a PostgreSQL port where nothing listens: a real refused connection.
    dead = make_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none", connect_timeout=1)
    auth_app.state.sessionmaker, working = make_sessionmaker(dead), auth_app.state.sessionmaker
    try:
        response = await auth_client.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": "x"},
            auth=client.basic_auth(),
        )
        ready = await auth_client.get("/readyz")
    finally:
        auth_app.state.sessionmaker = working
        await dead.dispose()
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "2"
    assert response.headers["cache-control"] == "no-store"
    assert ready.status_code == 200  # readiness reads the app's engine, which still works
    recovered = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=client.basic_auth(),
    )
    assert recovered.status_code == 400


async def test_operations_unexpected_error_is_a_500_without_internals(auth_app: FastAPI) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals")

    auth_app.add_api_route("/test-boom", boom)
    transport = httpx.ASGITransport(app=auth_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as client:
        response = await client.get("/test-boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": "server_error",
        "error_description": "the server encountered an unexpected condition",
    }
    assert "secret" not in response.text
    # Answered inside the middleware stack: still framed-proof, still traceable.
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert len(response.headers["x-request-id"]) == 16
