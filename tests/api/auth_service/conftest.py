"""Arrangements several auth-service API modules share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import TestClient, TestUser, make_client
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.mail import Catcher, running_catcher
from tests.support.token_exchange import SERVICE_SCOPE, TOKEN_EXCHANGE, USER_SCOPE


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[Catcher]:
    """A real SMTP server (the project's aiosmtpd catcher); with `with_mail` in a module's
    `settings`, the auth app sends to it."""
    with running_catcher(tmp_path / "caught") as running:
        yield running


@pytest.fixture
async def introspector(db: Database) -> TestClient:
    """A resource server registered as a client and allowed to introspect (RFC 7662 §2.1)."""
    return await make_client(db, can_introspect=True)


# Token exchange (test_token_exchange, test_token_exchange_policy).


@pytest.fixture
async def user_tokens(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
) -> dict[str, Any]:
    """The user's tokens at their app (code flow, `openid profile read:notes`)."""
    issued = await tokens_for(
        auth_client, AuthorizationRequest(confidential_client, scope=USER_SCOPE), user
    )
    await auth_app.state.audit_buffer.flush()  # the token_issued event, before any snapshot
    return issued


@pytest.fixture
async def service(db: Database, confidential_client: TestClient) -> TestClient:
    """A back-end service that may exchange the app's tokens (and get its own, as an actor)."""
    return await make_client(
        db,
        name="Notes Service",
        grant_types=[TOKEN_EXCHANGE, "client_credentials"],
        scope=SERVICE_SCOPE,
        may_exchange_for=[confidential_client.client_id],
    )
