"""Resource indicators (RFC 8707): `resource` at /oauth/authorize, /oauth/par and /oauth/token,
the access token's `aud`, scopes narrowed to what the resource serves, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.resource_servers.registry import delete_resource_server
from shared.models import (
    AuditEvent,
    AuthorizationCode,
    Grant,
    PendingAuthorization,
    PushedAuthorizationRequest,
    RefreshToken,
)
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_client, make_resource_server
from tests.support.assertions import assert_error_page, assert_oauth_error
from tests.support.authorize import assert_nothing_stored
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, authorize
from tests.support.lifecycle import snapshot, verified_claims
from tests.support.pages import assert_client_code, assert_client_error, page_error_text
from tests.support.resources import ResourceRequest

NOTES = "https://notes.example/api"
CALENDAR = "https://calendar.example"
WRITER = "urn:example:writer"
SCOPE = "openid profile read:notes write:notes offline_access"
NOT_REGISTERED = "the resource is not a registered resource server"
NOT_ALLOWED = "this client may not ask for tokens for the resource"
NOT_ASKED = "the resource was not asked for in the authorization request"
ONE_PER_REQUEST = "only one resource per token request (RFC 8707 section 2.2)"
NONE_SERVED_AT_AUTHORIZE = "none of the scopes is served by the requested resources"
SEVERAL_GRANTED = "several resources were granted; name one with resource"
ONLY_ITS_RESOURCES = "this client may only ask for tokens for its resources"


@pytest.fixture
async def registry(db: Database) -> None:
    """Three resource servers: the notes API, one serving only `profile`, one only writing."""
    await make_resource_server(db, NOTES, scopes=("read:notes", "write:notes", "profile"))
    await make_resource_server(db, CALENDAR, scopes=("profile",))
    await make_resource_server(db, WRITER, scopes=("write:notes",))


async def token_request(
    auth: httpx.AsyncClient, client: TestClient, data: dict[str, Any]
) -> httpx.Response:
    return await auth.post("/oauth/token", data=data, auth=client.basic_auth())


async def code_for(
    auth: httpx.AsyncClient, client: TestClient, user: TestUser, *resources: str
) -> tuple[ResourceRequest, str]:
    request = ResourceRequest(client, scope=SCOPE, resources=list(resources))
    response = await authorize(auth, request, user)
    return request, assert_client_code(response, REDIRECT_URI, state=request.state)


def code_form(request: AuthorizationRequest, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.verifier,
        **extra,
    }


# --- Authorization code and refresh ---


async def test_resources_two_at_authorize_each_token_is_for_one_and_narrowed(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    request, code = await code_for(auth_client, confidential_client, user, NOTES, CALENDAR)
    (grant,) = await db.all(Grant)
    assert grant.resources == [NOTES, CALENDAR]

    response = await token_request(
        auth_client, confidential_client, code_form(request, code, resource=NOTES)
    )

    assert response.status_code == 200, response.text
    body = response.json()
    # Only what the notes API serves; the ID token is the client's, unchanged (OIDC Core §2).
    assert body["scope"] == "profile read:notes write:notes"
    assert "id_token" in body
    claims = await verified_claims(auth_client, body["access_token"])
    assert (claims["aud"], claims["scope"]) == (NOTES, "profile read:notes write:notes")
    # The refresh token keeps the whole grant, so it can get tokens for the other resource.
    (stored,) = await db.all(RefreshToken)
    assert stored.scope == SCOPE
    refreshed = await token_request(
        auth_client,
        confidential_client,
        {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "resource": CALENDAR,
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    calendar = await verified_claims(auth_client, refreshed.json()["access_token"])
    assert (calendar["aud"], calendar["scope"]) == (CALENDAR, "profile")
    assert refreshed.json()["scope"] == "profile"


async def test_resources_two_at_authorize_none_at_token_is_invalid_target_and_code_unused(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    request, code = await code_for(auth_client, confidential_client, user, NOTES, CALENDAR)
    before = await snapshot(db)

    response = await token_request(auth_client, confidential_client, code_form(request, code))

    # RFC 8707 §2.2: the audience is left open, so the server refuses rather than guess.
    assert_oauth_error(response, "invalid_target", description=SEVERAL_GRANTED)
    assert await snapshot(db) == before
    (stored,) = await db.all(AuthorizationCode)
    assert stored.used_at is None
    # The same code still redeems once it names one of them.
    named = await token_request(
        auth_client, confidential_client, code_form(request, code, resource=CALENDAR)
    )
    assert named.status_code == 200, named.text


async def test_resources_two_at_authorize_refresh_without_resource_is_invalid_target(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    request, code = await code_for(auth_client, confidential_client, user, NOTES, CALENDAR)
    body = (
        await token_request(
            auth_client, confidential_client, code_form(request, code, resource=NOTES)
        )
    ).json()
    before = await snapshot(db)

    response = await token_request(
        auth_client,
        confidential_client,
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
    )

    assert_oauth_error(response, "invalid_target", description=SEVERAL_GRANTED)
    assert await snapshot(db) == before


async def test_resources_one_at_authorize_is_the_audience_without_resource_at_token(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    request, code = await code_for(auth_client, confidential_client, user, CALENDAR)

    response = await token_request(auth_client, confidential_client, code_form(request, code))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "profile"
    assert "id_token" in body
    claims = await verified_claims(auth_client, body["access_token"])
    assert (claims["aud"], claims["scope"]) == (CALENDAR, "profile")
    refreshed = await token_request(
        auth_client,
        confidential_client,
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    again = await verified_claims(auth_client, refreshed.json()["access_token"])
    assert again["aud"] == CALENDAR


@pytest.mark.parametrize(
    ("resource", "description"),
    [
        pytest.param(WRITER, NOT_ASKED, id="registered-but-not-asked-for"),
        pytest.param([NOTES, CALENDAR], ONE_PER_REQUEST, id="two-at-token"),
        pytest.param(
            "https://notes.example/api#x",
            "resource must not contain a fragment (RFC 8707 section 2)",
            id="fragment",
        ),
    ],
)
async def test_resources_token_code_refused_with_invalid_target_and_code_stays_unused(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
    resource: str | list[str],
    description: str,
) -> None:
    request, code = await code_for(auth_client, confidential_client, user, NOTES, CALENDAR)
    before = await snapshot(db)

    response = await token_request(
        auth_client, confidential_client, code_form(request, code, resource=resource)
    )

    assert_oauth_error(response, "invalid_target", description=description)
    assert response.headers["pragma"] == "no-cache"
    assert "www-authenticate" not in response.headers
    # Nothing written: the code is not used up, no refresh token, no issue noted on the grant.
    assert await snapshot(db) == before
    assert await db.count(RefreshToken) == 0
    (stored,) = await db.all(AuthorizationCode)
    assert stored.used_at is None
    retried = await token_request(
        auth_client, confidential_client, code_form(request, code, resource=NOTES)
    )
    assert retried.status_code == 200, retried.text


async def test_resources_token_without_resource_at_authorize_refuses_any_resource(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    request, code = await code_for(auth_client, confidential_client, user)
    before = await snapshot(db)

    response = await token_request(
        auth_client, confidential_client, code_form(request, code, resource=NOTES)
    )

    assert_oauth_error(response, "invalid_target", description=NOT_ASKED)
    assert await snapshot(db) == before


async def test_resources_token_resource_serving_none_of_the_scopes_is_invalid_scope(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    # Calendar serves `profile`, so the request is accepted; the writer serves neither scope.
    request = ResourceRequest(
        confidential_client, scope="openid profile", resources=[CALENDAR, WRITER]
    )
    code = assert_client_code(
        await authorize(auth_client, request, user), REDIRECT_URI, state=request.state
    )
    before = await snapshot(db)

    response = await token_request(
        auth_client, confidential_client, code_form(request, code, resource=WRITER)
    )

    assert_oauth_error(
        response,
        "invalid_scope",
        description="none of the scopes is served by the requested resource",
    )
    assert await snapshot(db) == before


async def test_resources_refresh_refused_keeps_the_token_unrotated(
    auth_app: FastAPI,
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    request, code = await code_for(auth_client, confidential_client, user, NOTES)
    issued = await token_request(auth_client, confidential_client, code_form(request, code))
    refresh_token = issued.json()["refresh_token"]
    await auth_app.state.audit_buffer.flush()  # the token_issued event, written now
    before = await snapshot(db)

    for resource, description in ((CALENDAR, NOT_ASKED), ([NOTES, NOTES], ONE_PER_REQUEST)):
        response = await token_request(
            auth_client,
            confidential_client,
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "resource": resource},
        )
        assert_oauth_error(response, "invalid_target", description=description)

    assert await snapshot(db) == before
    (stored,) = await db.all(RefreshToken)
    assert stored.rotated_at is None


async def test_resources_deleted_after_authorize_is_refused_at_token(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    request, code = await code_for(auth_client, confidential_client, user, CALENDAR)

    async def delete(repos: Any) -> None:
        server = await repos.resource_servers.get_by_uri(CALENDAR)
        await delete_resource_server(repos, server, now=datetime.now(UTC))

    # Deleted by another process (the CLI's path): the app hears of it at its next poll.
    await db.run(delete)
    assert await auth_app.state.introspection.mirror.poll() is True

    response = await token_request(auth_client, confidential_client, code_form(request, code))

    assert_oauth_error(response, "invalid_target", description=NOT_REGISTERED)


# --- Refusals at the authorization endpoint ---


@pytest.mark.parametrize(
    ("resource", "description"),
    [
        pytest.param("https://unknown.example", NOT_REGISTERED, id="unknown"),
        pytest.param(
            "/api", "resource must be an absolute URI (RFC 8707 section 2)", id="relative"
        ),
        pytest.param(
            NOTES + "#frag",
            "resource must not contain a fragment (RFC 8707 section 2)",
            id="fragment",
        ),
        pytest.param(
            "https:///nohost",
            "resource must be an absolute URI with a host (RFC 8707 section 2)",
            id="no-host",
        ),
        pytest.param(
            "https://notes.example/a b",
            "resource must be an absolute URI (RFC 8707 section 2)",
            id="space",
        ),
        pytest.param(CALENDAR, NOT_ALLOWED, id="not-allowed-for-the-client"),
    ],
)
async def test_resources_authorize_refused_redirects_invalid_target_and_stores_nothing(
    db: Database, auth_client: httpx.AsyncClient, registry: None, resource: str, description: str
) -> None:
    client = await make_client(db, resources=[NOTES])
    request = ResourceRequest(client, resources=[NOTES, resource])

    response = await auth_client.get(request.url())

    # RFC 6749 §4.1.2.1: the redirect URI is verified, so the error goes back to the client.
    assert_client_error(response, REDIRECT_URI, "invalid_target", description, state=request.state)
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    ("scope", "resources"),
    [
        pytest.param("openid profile", [WRITER], id="one-serving-none"),
        pytest.param("openid read:notes", [CALENDAR, WRITER], id="several-serving-none"),
        pytest.param("openid", [NOTES], id="only-openid"),
    ],
)
async def test_resources_authorize_none_serving_a_scope_redirects_invalid_scope(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    registry: None,
    scope: str,
    resources: list[str],
) -> None:
    request = ResourceRequest(confidential_client, scope=scope, resources=resources)

    response = await auth_client.get(request.url())

    # No code of this request could be redeemed: refused before anything is stored.
    assert_client_error(
        response, REDIRECT_URI, "invalid_scope", NONE_SERVED_AT_AUTHORIZE, state=request.state
    )
    await assert_nothing_stored(db)


async def test_resources_authorize_openid_need_not_be_served_when_another_scope_is(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    # Of the requested scopes only `write:notes` is served (by the writer); `openid` is not.
    request, code = await code_for(auth_client, confidential_client, user, WRITER)

    response = await token_request(auth_client, confidential_client, code_form(request, code))

    assert response.status_code == 200, response.text
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert (claims["aud"], claims["scope"]) == (WRITER, "write:notes")
    assert "id_token" in response.json()


async def test_resources_par_none_serving_a_scope_is_json_invalid_scope_and_nothing_stored(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    registry: None,
) -> None:
    request = AuthorizationRequest(confidential_client, scope="openid read:notes")
    form = {**request.params(), "resource": [CALENDAR]}

    response = await auth_client.post(
        "/oauth/par", data=form, auth=confidential_client.basic_auth()
    )

    assert_oauth_error(response, "invalid_scope", description=NONE_SERVED_AT_AUTHORIZE)
    assert await db.count(PushedAuthorizationRequest) == 0


async def test_resources_authorize_bad_resource_with_bad_redirect_uri_shows_our_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = ResourceRequest(
        confidential_client,
        extra={"redirect_uri": "https://evil.example/cb"},
        resources=["https://unknown.example"],
    )

    response = await auth_client.get(request.url())

    assert_error_page(
        response,
        page_error_text("redirect_uri does not match any URI registered for this client"),
    )
    await assert_nothing_stored(db)


async def test_resources_authorize_too_many_is_invalid_target(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    uris = [f"https://api{i}.example" for i in range(11)]
    for uri in uris:
        await make_resource_server(db, uri)
    request = ResourceRequest(confidential_client, resources=uris)

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_target",
        "at most 10 resources per request",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_resources_pending_request_keeps_them_until_the_code(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, registry: None
) -> None:
    request = ResourceRequest(confidential_client, resources=[NOTES, NOTES, CALENDAR])

    response = await auth_client.get(request.url())

    assert response.status_code == 303, response.text
    (pending,) = await db.all(PendingAuthorization)
    assert pending.params["resource"] == [NOTES, CALENDAR]  # a repeat counts once


# --- Pushed authorization requests ---


async def test_resources_par_stores_them_and_the_code_is_for_them(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    request = AuthorizationRequest(confidential_client, scope=SCOPE)
    form = {**request.params(), "resource": [NOTES, CALENDAR]}

    pushed = await auth_client.post("/oauth/par", data=form, auth=confidential_client.basic_auth())

    assert pushed.status_code == 201, pushed.text
    (row,) = await db.all(PushedAuthorizationRequest)
    assert row.params["resource"] == [NOTES, CALENDAR]
    par_request = ResourceRequest(
        confidential_client,
        extra={"request_uri": pushed.json()["request_uri"]},
        verifier=request.verifier,
        challenge=request.challenge,
        state=request.state,
        # RFC 9126 §4: only the pushed parameters count; this one is ignored.
        resources=[WRITER],
    )
    code = assert_client_code(
        await authorize(auth_client, par_request, user), REDIRECT_URI, state=request.state
    )
    (grant,) = await db.all(Grant)
    assert grant.resources == [NOTES, CALENDAR]
    response = await token_request(
        auth_client, confidential_client, code_form(request, code, resource=CALENDAR)
    )
    assert response.status_code == 200, response.text
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert claims["aud"] == CALENDAR


async def test_resources_par_stored_as_one_string_is_one_resource(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    request = AuthorizationRequest(confidential_client, scope=SCOPE)
    form = {**request.params(), "resource": [CALENDAR]}
    pushed = await auth_client.post("/oauth/par", data=form, auth=confidential_client.basic_auth())
    assert pushed.status_code == 201, pushed.text
    (row,) = await db.all(PushedAuthorizationRequest)
    # A row that keeps the resource as a bare string (as a hand-written or older row might).
    async with db.sessionmaker() as session:
        await session.merge(
            PushedAuthorizationRequest.model_validate(
                {**row.model_dump(), "params": {**row.params, "resource": CALENDAR}}
            )
        )
        await session.commit()
    (stored,) = await db.all(PushedAuthorizationRequest)
    assert stored.params["resource"] == CALENDAR
    par_request = AuthorizationRequest(
        confidential_client,
        extra={"request_uri": pushed.json()["request_uri"]},
        verifier=request.verifier,
        challenge=request.challenge,
        state=request.state,
    )

    code = assert_client_code(
        await authorize(auth_client, par_request, user), REDIRECT_URI, state=request.state
    )

    (grant,) = await db.all(Grant)
    assert grant.resources == [CALENDAR]
    response = await token_request(auth_client, confidential_client, code_form(request, code))
    assert response.status_code == 200, response.text
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert claims["aud"] == CALENDAR


@pytest.mark.parametrize(
    ("resource", "description"),
    [
        pytest.param("https://unknown.example", NOT_REGISTERED, id="unknown"),
        pytest.param(
            "urn", "resource must be an absolute URI (RFC 8707 section 2)", id="not-a-uri"
        ),
    ],
)
async def test_resources_par_refused_is_json_invalid_target_and_nothing_stored(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    registry: None,
    resource: str,
    description: str,
) -> None:
    request = AuthorizationRequest(confidential_client)
    form = {**request.params(), "resource": [NOTES, resource]}

    response = await auth_client.post(
        "/oauth/par", data=form, auth=confidential_client.basic_auth()
    )

    assert_oauth_error(response, "invalid_target", description=description)
    assert await db.count(PushedAuthorizationRequest) == 0


# --- Client credentials and password ---


@pytest.fixture
async def service_client(db: Database, registry: None) -> TestClient:
    """A client limited to two of the three resource servers."""
    return await make_client(
        db,
        grant_types=["client_credentials"],
        scope="read:notes write:notes",
        resources=[NOTES, WRITER],
    )


@pytest.mark.parametrize(
    ("resource", "scope", "aud", "granted"),
    [
        (NOTES, None, NOTES, "read:notes write:notes"),
        (WRITER, "read:notes write:notes", WRITER, "write:notes"),
    ],
)
async def test_resources_client_credentials_token_is_for_the_resource(
    auth_client: httpx.AsyncClient,
    service_client: TestClient,
    registry: None,
    resource: str | None,
    scope: str | None,
    aud: str,
    granted: str,
) -> None:
    data = {"grant_type": "client_credentials", "resource": resource, "scope": scope}

    response = await token_request(
        auth_client, service_client, {k: v for k, v in data.items() if v is not None}
    )

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == granted
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert (claims["aud"], claims["scope"]) == (aud, granted)


@pytest.mark.parametrize(
    ("resource", "error", "description"),
    [
        (CALENDAR, "invalid_target", NOT_ALLOWED),
        ("https://unknown.example", "invalid_target", NOT_REGISTERED),
        ([NOTES, WRITER], "invalid_target", ONE_PER_REQUEST),
        # Limited to its resources, and the (unregistered) default audience is none of them.
        (None, "invalid_target", ONLY_ITS_RESOURCES),
        (
            "relative/path",
            "invalid_target",
            "resource must be an absolute URI (RFC 8707 section 2)",
        ),
    ],
)
async def test_resources_client_credentials_refused_and_nothing_issued(
    db: Database,
    auth_client: httpx.AsyncClient,
    service_client: TestClient,
    registry: None,
    resource: str | list[str] | None,
    error: str,
    description: str,
) -> None:
    data = {"grant_type": "client_credentials", "resource": resource}

    response = await token_request(
        auth_client, service_client, {k: v for k, v in data.items() if v is not None}
    )

    assert_oauth_error(response, error, description=description)
    assert await db.count(AuditEvent, AuditEvent.event == "token_issued") == 0


async def test_resources_client_credentials_resource_serving_none_is_invalid_scope(
    db: Database, auth_client: httpx.AsyncClient, registry: None
) -> None:
    client = await make_client(db, grant_types=["client_credentials"], scope="read:notes")

    response = await token_request(
        auth_client, client, {"grant_type": "client_credentials", "resource": WRITER}
    )

    assert_oauth_error(
        response,
        "invalid_scope",
        description="none of the scopes is served by the requested resource",
    )


async def test_resources_password_grant_token_and_its_refreshes_are_for_the_resource(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, registry: None
) -> None:
    client = await make_client(
        db, grant_types=["password", "refresh_token"], is_first_party=True, scope=SCOPE
    )
    data = {"grant_type": "password", "username": user.username, "password": user.password}

    response = await token_request(auth_client, client, {**data, "resource": CALENDAR})

    assert response.status_code == 200, response.text
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert (claims["aud"], claims["scope"]) == (CALENDAR, "profile")
    (grant,) = await db.all(Grant)
    assert (grant.resources, grant.scope) == ([CALENDAR], SCOPE)
    refreshed = await token_request(
        auth_client,
        client,
        {"grant_type": "refresh_token", "refresh_token": response.json()["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    again = await verified_claims(auth_client, refreshed.json()["access_token"])
    assert (again["aud"], again["scope"]) == (CALENDAR, "profile")
    refused = await token_request(auth_client, client, {**data, "resource": "https://x.example"})
    assert_oauth_error(refused, "invalid_target", description=NOT_REGISTERED)
    assert await db.count(Grant) == 1
