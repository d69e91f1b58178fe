"""Arrangements several auth-service API modules share."""

from __future__ import annotations

import pytest

from tests.factories import TestClient, make_client
from tests.support.db import Database


@pytest.fixture
async def introspector(db: Database) -> TestClient:
    """A resource server registered as a client and allowed to introspect (RFC 7662 §2.1)."""
    return await make_client(db, can_introspect=True)
