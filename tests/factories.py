"""Async factories with keyword overrides; they go through the same code as the CLI."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from auth_service.clients.registry import ClientSpec, register_client
from auth_service.identity.accounts import create_user
from auth_service.resource_servers.registry import ResourceServerSpec, register_resource_server
from auth_service.security.passwords import PasswordHasher
from shared.models import Client, ResourceServer, User
from tests.support.db import Database

FAST_HASHER = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1)
REDIRECT_URI = "https://client.example/callback"


@dataclass(frozen=True)
class TestUser:
    __test__ = False
    user: User
    password: str

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def username(self) -> str:
        return self.user.username


@dataclass(frozen=True)
class TestClient:
    __test__ = False
    client: Client
    secret: str | None

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def redirect_uri(self) -> str:
        return self.client.redirect_uris[0]

    def basic_auth(self) -> tuple[str, str]:
        assert self.secret is not None
        return (self.client_id, self.secret)


async def make_user(db: Database, **overrides: Any) -> TestUser:
    suffix = secrets.token_hex(4)
    values: dict[str, Any] = {
        "username": f"user{suffix}",
        "email": f"user{suffix}@example.com",
        "password": "correct horse battery",
        "name": "Test User",
    }
    values.update(overrides)
    user = await db.run(
        lambda repos: create_user(repos, FAST_HASHER, now=datetime.now(UTC), **values)
    )
    return TestUser(user, values["password"])


async def make_client(db: Database, **overrides: Any) -> TestClient:
    values: dict[str, Any] = {
        "name": "Test App",
        "redirect_uris": [REDIRECT_URI],
        "scope": "openid profile email read:notes write:notes offline_access",
    }
    values.update(overrides)
    spec = ClientSpec(**values)
    registered = await db.run(lambda repos: register_client(repos, spec, now=datetime.now(UTC)))
    return TestClient(registered.client, registered.client_secret)


async def make_resource_server(
    db: Database, uri: str, *, scopes: tuple[str, ...] = ("read:notes",), **overrides: Any
) -> ResourceServer:
    """A registered resource server (RFC 8707), through the same rules as the CLI."""
    spec = ResourceServerSpec(uri=uri, name=overrides.pop("name", "Test API"), scopes=scopes)
    return await db.run(
        lambda repos: register_resource_server(repos, spec, now=datetime.now(UTC), **overrides)
    )
