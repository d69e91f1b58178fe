"""A PostgreSQL server that is starting up or shutting down refuses connections with SQLSTATE
57P03; the token endpoint must answer that with a fast 503, like any other outage (found by the
fault suite's PostgreSQL restart: these were 500s)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shared.database import make_engine, make_sessionmaker
from tests.factories import make_client
from tests.support.db import Database
from tests.support.fake_postgres import SHUTTING_DOWN, STARTING_UP, refusing_postgres


@pytest.mark.parametrize("refusal", [STARTING_UP, SHUTTING_DOWN], ids=["starting", "stopping"])
async def test_token_endpoint_while_postgres_restarts_answers_503_with_retry_after(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, refusal: tuple[str, str]
) -> None:
    client = await make_client(db)
    async with refusing_postgres(*refusal) as url:
        restarting = make_engine(url, connect_timeout=1)
        auth_app.state.sessionmaker, working = (
            make_sessionmaker(restarting),
            auth_app.state.sessionmaker,
        )
        try:
            response = await auth_client.post(
                "/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": "x"},
                auth=client.basic_auth(),
            )
        finally:
            auth_app.state.sessionmaker = working
            await restarting.dispose()
    assert response.status_code == 503
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": "the database is unavailable, retry shortly",
    }
    assert response.headers["retry-after"] == "2"
    assert response.headers["cache-control"] == "no-store"
