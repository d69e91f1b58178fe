"""Fixtures: a real database per test, both apps in-process, and the arrangements tests build on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.main import create_app as create_auth_app
from auth_service.security.keys import NewKey, new_signing_key, write_private_key
from resource_service.config import ResourceSettings
from resource_service.main import create_app as create_resource_app
from shared.database import make_engine
from shared.models import SigningKey
from shared.tokens import SIGNATURE_ALGORITHMS
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.clock import TestClock
from tests.support.databases import (
    TEST_DATABASE_URL,
    create_schema,
    is_postgres,
    reset_postgres_schema,
    sqlite_url,
    truncate_all,
    worker_database_url,
)
from tests.support.db import Database

ISSUER = "http://auth.test"
AUDIENCE = "http://resource.test"


@pytest.fixture(scope="session")
def _postgres_url() -> str | None:
    """This worker's PostgreSQL database with a fresh schema, when the suite runs on PostgreSQL."""
    if TEST_DATABASE_URL is None or not is_postgres(TEST_DATABASE_URL):
        return None
    url = worker_database_url(TEST_DATABASE_URL)
    asyncio.run(reset_postgres_schema(url))
    return url


@pytest.fixture
def database_url(tmp_path: Path, _postgres_url: str | None) -> str:
    if _postgres_url is not None:
        return _postgres_url
    if TEST_DATABASE_URL is not None:
        return TEST_DATABASE_URL
    return sqlite_url(tmp_path / "test.db")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    # BEGIN IMMEDIATE like the apps: a factory's read-then-write then waits for the writer lock
    # (busy timeout) instead of failing when a background job holds it.
    engine = make_engine(database_url)
    if is_postgres(database_url):
        await truncate_all(engine)
    else:
        await create_schema(engine)
    try:
        yield Database(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def _session_keys() -> dict[str, NewKey]:
    # RSA generation costs ~100 ms; one key per algorithm for the whole run keeps the suite fast.
    return {alg: new_signing_key(alg) for alg in SIGNATURE_ALGORITHMS}


@pytest.fixture
async def signing_keys(
    db: Database, _session_keys: dict[str, NewKey], settings: AuthSettings
) -> dict[str, SigningKey]:
    """A key per algorithm of AUTH_SIGNING_ALGS, as the first start would leave them."""
    rows = {}
    for alg in settings.signing_algs:
        key = _session_keys[alg]
        write_private_key(settings.key_dir, key.kid, key.pem)
        rows[alg] = SigningKey(
            kid=key.kid,
            alg=alg,
            public_jwk=key.public_jwk,
            created_at=datetime(2020, 1, 1, tzinfo=UTC),
            activates_at=datetime(2020, 1, 1, tzinfo=UTC),
        )
    await db.add(*rows.values())
    return rows


@pytest.fixture
async def signing_key(signing_keys: dict[str, SigningKey], settings: AuthSettings) -> SigningKey:
    """The AUTH_SIGNING_ALG key (RS256 by default): what clients without a choice get."""
    return signing_keys[settings.signing_alg]


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db)


@pytest.fixture
async def confidential_client(db: Database) -> TestClient:
    return await make_client(db)


@pytest.fixture
async def public_client(db: Database) -> TestClient:
    return await make_client(db, is_public=True)


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> AuthSettings:
    return AuthSettings(
        _env_file=None,  # type: ignore[call-arg]
        issuer=ISSUER,
        resource_audience=AUDIENCE,
        database_url=database_url,
        key_dir=tmp_path / "keys",
        # Cheap argon2 parameters: the tests exercise logic, not hashing cost.
        password_time_cost=1,
        password_memory_kib=64,
        password_parallelism=1,
    )


@pytest.fixture
def resource_settings(database_url: str) -> ResourceSettings:
    return ResourceSettings(
        _env_file=None,  # type: ignore[call-arg]
        issuer=ISSUER,
        audience=AUDIENCE,
        database_url=database_url,
    )


@pytest.fixture
async def auth_app(
    settings: AuthSettings, db: Database, signing_key: SigningKey, clock: TestClock
) -> AsyncIterator[FastAPI]:
    app = create_auth_app(settings, clock=clock)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def auth_client(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


@pytest.fixture
async def resource_app(
    resource_settings: ResourceSettings, auth_app: FastAPI, clock: TestClock
) -> AsyncIterator[FastAPI]:
    # The resource service fetches discovery and JWKS from the real auth app, in-process.
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=auth_app), base_url=ISSUER)
    app = create_resource_app(resource_settings, clock=clock, http_client=http)
    try:
        async with LifespanManager(app):
            yield app
    finally:
        await http.aclose()


@pytest.fixture
async def resource_client(resource_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=resource_app)
    async with httpx.AsyncClient(transport=transport, base_url=AUDIENCE) as client:
        yield client
