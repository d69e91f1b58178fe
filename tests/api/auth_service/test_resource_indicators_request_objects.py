"""`resource` inside signed request objects (RFC 9101 with RFC 8707 §2.1): one URI as a
string, several as an array; anything else is an invalid request object, shown on our page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.models import Grant, PushedAuthorizationRequest
from tests.api.auth_service.test_request_objects import (
    assert_code_for,
    authorize_url,
    client_key,
    jar_client,
    object_claims,
    push,
    ready_to_issue,
    signed,
)
from tests.factories import TestClient, TestUser, make_resource_server
from tests.support.assertions import assert_error_page
from tests.support.assertions_jwt import ClientKey
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.pages import page_error_text

__all__ = ["client_key", "jar_client"]  # fixtures, used by name

NOTES = "https://notes.example/api"
CALENDAR = "https://calendar.example"


@pytest.fixture
async def registry(db: Database) -> None:
    await make_resource_server(db, NOTES, scopes=("profile", "read:notes"))
    await make_resource_server(db, CALENDAR, scopes=("profile",))


@pytest.mark.parametrize(
    ("claim", "expected"), [(NOTES, [NOTES]), ([NOTES, CALENDAR], [NOTES, CALENDAR])]
)
async def test_request_object_resource_string_or_array_is_granted(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    jar_client: TestClient,
    client_key: ClientKey,
    registry: None,
    claim: Any,
    expected: list[str],
) -> None:
    await ready_to_issue(db, auth_client, user, jar_client)
    request = AuthorizationRequest(jar_client)
    token = signed(client_key, object_claims(request, resource=claim))

    # RFC 9101 §6.3: a resource beside the object is ignored like every other parameter.
    response = await auth_client.get(
        authorize_url(jar_client.client_id, request=token, resource=CALENDAR)
    )

    assert_code_for(response, request)
    (grant,) = await db.all(Grant)
    assert grant.resources == expected


async def test_request_object_resource_at_par_is_stored_as_a_list(
    db: Database,
    auth_client: httpx.AsyncClient,
    jar_client: TestClient,
    client_key: ClientKey,
    registry: None,
) -> None:
    request = AuthorizationRequest(jar_client)
    claims = object_claims(request, resource=[NOTES, CALENDAR])

    response = await push(auth_client, client_key, jar_client, request=signed(client_key, claims))

    assert response.status_code == 201, response.text
    (row,) = await db.all(PushedAuthorizationRequest)
    assert row.params["resource"] == [NOTES, CALENDAR]


@pytest.mark.parametrize("claim", [42, [NOTES, 7], {"uri": NOTES}])
async def test_request_object_resource_of_another_type_is_refused_on_our_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    jar_client: TestClient,
    client_key: ClientKey,
    registry: None,
    claim: Any,
) -> None:
    await ready_to_issue(db, auth_client, user, jar_client)
    request = AuthorizationRequest(jar_client)
    token = signed(client_key, object_claims(request, resource=claim))

    response = await auth_client.get(authorize_url(jar_client.client_id, request=token))

    assert_error_page(
        response,
        page_error_text("request object resource must be a string or array of strings"),
    )
    assert await db.count(Grant) == 0
