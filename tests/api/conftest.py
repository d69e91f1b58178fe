"""Arrangements the API tests of both services build on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import TestClient, TestUser
from tests.support.flows import AuthorizationRequest, tokens_for


@pytest.fixture
async def tokens(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> dict[str, Any]:
    """The token response of one whole code flow (scope `openid profile`) of `user`."""
    return await tokens_for(auth_client, AuthorizationRequest(confidential_client), user)
