"""Arrangements the API tests of both services build on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import TestClient, TestUser
from tests.support.flows import AuthorizationRequest, tokens_for


@pytest.fixture
async def tokens(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
) -> dict[str, Any]:
    """The token response of one whole code flow (scope `openid profile`) of `user`."""
    issued = await tokens_for(auth_client, AuthorizationRequest(confidential_client), user)
    # The token_issued event waits in the audit buffer (flushed every 0.5 s); write it now, or a
    # flush landing between a test's two database snapshots looks like a change the test made.
    await auth_app.state.audit_buffer.flush()
    return issued
