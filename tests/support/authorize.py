"""Arrangements and assertions the /oauth/authorize modules share (RFC 6749 §4.1.2.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from shared.models import AuditEvent, AuthorizationCode, Consent, Grant, PendingAuthorization
from tests.factories import REDIRECT_URI, make_client
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.pages import assert_client_error

OTHER_REDIRECT_URI = "https://client.example/other"


async def assert_nothing_stored(db: Database) -> None:
    """A refused request leaves no trace: no pending request, grant, code, consent or audit row."""
    for model in (PendingAuthorization, Grant, AuthorizationCode, Consent, AuditEvent):
        assert await db.count(model) == 0, model.__name__


@dataclass(frozen=True)
class RefusedRequest:
    """A request from a trusted client and redirect URI that is refused with a redirect back.

    `client` overrides `make_client`; `extra` overrides request parameters (None drops one).
    """

    error: str
    description: str
    extra: dict[str, str | None] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    scope: str = "openid profile"
    state: str | None = None  # None: a fresh random state


def refused(name: str, error: str, description: str, **overrides: Any) -> Any:
    """One row of a refused-request table; `name` reads like the test it stands for."""
    return pytest.param(RefusedRequest(error, description, **overrides), id=name)


async def assert_refused_with_error_redirect(
    db: Database, auth: httpx.AsyncClient, case: RefusedRequest
) -> None:
    """302 to the redirect URI with exactly error, error_description, state and iss; no trace."""
    client = await make_client(db, **case.client)
    state = {} if case.state is None else {"state": case.state}
    request = AuthorizationRequest(client, scope=case.scope, extra=case.extra, **state)

    response = await auth.get(request.url())

    assert_client_error(response, REDIRECT_URI, case.error, case.description, state=request.state)
    await assert_nothing_stored(db)
