"""POST /oauth/token with the token exchange grant (RFC 8693): success, delegation, every refusal.

The user signs in to an app (`confidential_client`); a service the operator allowed to exchange
that app's tokens (`--may-exchange-for`) trades the user's access token for its own.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, update

from auth_service.clients.registry import ClientMetadataError
from auth_service.config import AuthSettings
from shared.models import AuditEvent, Client, Grant, RefreshToken, RevocationEvent, SigningKey
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, TestUser, make_client, make_resource_server
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import (
    AuthorizationRequest,
    csrf_from,
    exchange_code,
    get_code,
    tokens_for,
)
from tests.support.forge import Forger, access_claims, with_claims
from tests.support.lifecycle import (
    bearer,
    client_credentials,
    introspect,
    revoke,
    snapshot,
    verified_claims,
)
from tests.support.resources import ResourceRequest
from tests.support.token_endpoint import post_token
from tests.support.token_exchange import (
    ACCESS_TOKEN_TYPE,
    SERVICE_SCOPE,
    TOKEN_EXCHANGE,
    USER_SCOPE,
)

DEFAULT_ACCESS_TOKEN_TTL = 900  # AuthSettings.access_token_ttl default
NOT_ACTIVE = "the subject_token is not an active access token of this server"
NOT_ALLOWED = "the subject_token was issued to a client whose tokens this client may not exchange"


async def exchange(
    auth: httpx.AsyncClient, client: TestClient, subject_token: str | None, **params: str | None
) -> httpx.Response:
    """A token exchange request (RFC 8693 §2.1); a parameter given as None is left out."""
    data: dict[str, str | None] = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        **params,
    }
    return await post_token(auth, client, {k: v for k, v in data.items() if v is not None})


async def actor_token(auth: httpx.AsyncClient, client: TestClient) -> str:
    """The client's own client_credentials token: who acts (RFC 8693 §1.1 delegation)."""
    response = await client_credentials(auth, client, scope="read:notes")
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def assert_exchanged(response: httpx.Response, scope: str, lifetime: int) -> dict[str, Any]:
    """RFC 8693 §2.2.1: access_token, issued_token_type, token_type, expires_in, scope; never a
    refresh token from us. `lifetime` is the client's: the subject token, issued a moment
    earlier (the test clock runs), may bound it to a second or two less."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}
    assert (body["issued_token_type"], body["token_type"]) == (ACCESS_TOKEN_TYPE, "Bearer")
    assert body["scope"] == scope
    assert lifetime - 5 <= body["expires_in"] <= lifetime
    assert response.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    return body


async def refused(
    auth_app: FastAPI,
    db: Database,
    request: Any,
    error: str,
    description: str,
    *,
    status: int = 400,
) -> httpx.Response:
    """Send `request` (an awaitable response) and assert the error and that nothing was stored."""
    await auth_app.state.audit_buffer.flush()
    before = await snapshot(db)
    response: httpx.Response = await request
    assert_oauth_error(response, error, status=status, description=description)
    assert "www-authenticate" not in response.headers
    await auth_app.state.audit_buffer.flush()
    assert await snapshot(db) == before
    return response


# --- Success ---


async def test_token_exchange_own_token_returns_access_token_of_the_same_family(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, user: TestUser
) -> None:
    app = await make_client(db, grant_types=["authorization_code", "refresh_token", TOKEN_EXCHANGE])
    issued = await tokens_for(auth_client, AuthorizationRequest(app, scope=USER_SCOPE), user)
    subject = await verified_claims(auth_client, issued["access_token"])
    refresh_tokens = await db.count(RefreshToken)

    response = await exchange(auth_client, app, issued["access_token"])

    body = assert_exchanged(response, USER_SCOPE, DEFAULT_ACCESS_TOKEN_TTL)
    claims = await verified_claims(auth_client, body["access_token"])
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, AUDIENCE, user.id)
    assert (claims["client_id"], claims["scope"]) == (app.client_id, USER_SCOPE)
    assert claims["grant_id"] == subject["grant_id"]
    assert claims["auth_time"] == subject["auth_time"]
    assert claims["jti"] != subject["jti"]
    assert "act" not in claims  # no actor token: impersonation semantics (RFC 8693 §1.1)
    assert await db.count(RefreshToken) == refresh_tokens  # no refresh token (RFC 8693 §2.2.1)


async def test_token_exchange_for_allowed_client_narrows_to_service_scopes_and_is_audited(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    user: TestUser,
    confidential_client: TestClient,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    subject = await verified_claims(auth_client, user_tokens["access_token"])

    response = await exchange(auth_client, service, user_tokens["access_token"])

    # Default scope: the subject token's scopes the service may have (openid it may not).
    body = assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    claims = await verified_claims(auth_client, body["access_token"])
    assert (claims["sub"], claims["client_id"]) == (user.id, service.client_id)
    assert claims["grant_id"] == subject["grant_id"]
    (event,) = await db.all(AuditEvent, AuditEvent.event == "token_exchanged")
    assert (event.user_id, event.client_id) == (user.id, service.client_id)
    assert event.details == {
        "sub": user.id,
        "actor": None,
        "subject_client_id": confidential_client.client_id,
        "grant_id": subject["grant_id"],
        "grant_client_id": confidential_client.client_id,
    }
    (grant,) = await db.all(Grant)
    assert grant.revoked_at is None
    assert grant.access_expires_at is not None


async def test_token_exchange_with_actor_token_carries_act_and_introspection_returns_it(
    auth_client: httpx.AsyncClient,
    db: Database,
    user: TestUser,
    confidential_client: TestClient,
    service: TestClient,
    user_tokens: dict[str, Any],
    introspector: TestClient,
) -> None:
    actor = await actor_token(auth_client, service)

    response = await exchange(
        auth_client,
        service,
        user_tokens["access_token"],
        actor_token=actor,
        actor_token_type=ACCESS_TOKEN_TYPE,
        scope="read:notes",
    )

    body = assert_exchanged(response, "read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    claims = await verified_claims(auth_client, body["access_token"])
    # RFC 8693 §4.1: the subject stays the user; the actor is named in act.
    assert claims["sub"] == user.id
    assert claims["act"] == {"sub": service.client_id}
    introspected = (await introspect(auth_client, introspector, body["access_token"])).json()
    assert introspected["active"] is True
    assert introspected["act"] == {"sub": service.client_id}
    assert introspected["sub"] == user.id
    (event,) = await db.all(AuditEvent, AuditEvent.event == "token_exchanged")
    assert event.details["actor"] == service.client_id
    assert event.details["sub"] == user.id


async def test_token_exchange_of_a_delegated_token_nests_the_earlier_actor(
    auth_client: httpx.AsyncClient,
    db: Database,
    user: TestUser,
    confidential_client: TestClient,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    first = await exchange(
        auth_client,
        service,
        user_tokens["access_token"],
        actor_token=await actor_token(auth_client, service),
        actor_token_type=ACCESS_TOKEN_TYPE,
    )
    delegated = assert_exchanged(first, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    downstream = await make_client(
        db,
        name="Search Service",
        grant_types=[TOKEN_EXCHANGE, "client_credentials"],
        scope="read:notes",
        # The service's token, of a grant the user gave the app: both must be allowed.
        may_exchange_for=[service.client_id, confidential_client.client_id],
    )

    second = await exchange(
        auth_client,
        downstream,
        delegated["access_token"],
        actor_token=await actor_token(auth_client, downstream),
        actor_token_type=ACCESS_TOKEN_TYPE,
    )

    body = assert_exchanged(second, "read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    claims = await verified_claims(auth_client, body["access_token"])
    # RFC 8693 §4.1: the outermost act is the current actor, the nested one the earlier.
    assert claims["sub"] == user.id
    assert claims["act"] == {"sub": downstream.client_id, "act": {"sub": service.client_id}}


async def test_token_exchange_without_actor_keeps_the_subject_tokens_act(
    auth_client: httpx.AsyncClient, db: Database, service: TestClient, user_tokens: dict[str, Any]
) -> None:
    first = await exchange(
        auth_client,
        service,
        user_tokens["access_token"],
        actor_token=await actor_token(auth_client, service),
        actor_token_type=ACCESS_TOKEN_TYPE,
    )
    delegated = assert_exchanged(first, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)

    again = await exchange(auth_client, service, delegated["access_token"], scope="read:notes")

    # A delegated token is not laundered into one that hides who acted.
    body = assert_exchanged(again, "read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    claims = await verified_claims(auth_client, body["access_token"])
    assert claims["act"] == {"sub": service.client_id}


async def test_token_exchange_never_outlives_the_subject_token(
    auth_client: httpx.AsyncClient,
    clock: TestClock,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    subject = await verified_claims(auth_client, user_tokens["access_token"])
    clock.advance(800)

    response = await exchange(auth_client, service, user_tokens["access_token"])

    # min(the client's lifetime, the subject token's remaining life): about 100 s left.
    body = assert_exchanged(response, "profile read:notes", 100)
    claims = await verified_claims(auth_client, body["access_token"])
    assert claims["exp"] == subject["exp"]
    assert claims["exp"] - claims["iat"] == body["expires_in"]


async def test_token_exchange_client_lifetime_shorter_than_subjects_wins(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    short = await make_client(
        db,
        grant_types=[TOKEN_EXCHANGE],
        scope="read:notes",
        access_token_ttl=60,
        may_exchange_for=[confidential_client.client_id],
    )

    response = await exchange(auth_client, short, user_tokens["access_token"])

    body = assert_exchanged(response, "read:notes", 60)
    assert body["expires_in"] == 60
    claims = await verified_claims(auth_client, body["access_token"])
    assert claims["exp"] - claims["iat"] == 60


async def test_token_exchange_client_credentials_subject_is_allowed_without_a_family(
    auth_client: httpx.AsyncClient, db: Database, service: TestClient
) -> None:
    own = await actor_token(auth_client, service)

    response = await exchange(auth_client, service, own)

    body = assert_exchanged(response, "read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    claims = await verified_claims(auth_client, body["access_token"])
    assert claims["sub"] == service.client_id
    assert "grant_id" not in claims  # no grant to join: revoked with the client, by jti or exp
    (event,) = await db.all(AuditEvent, AuditEvent.event == "token_exchanged")
    assert (event.user_id, event.details["grant_id"]) == (None, None)


@pytest.mark.parametrize("param", ["audience", "resource"])
async def test_token_exchange_default_audience_named_is_accepted(
    auth_client: httpx.AsyncClient, service: TestClient, user_tokens: dict[str, Any], param: str
) -> None:
    response = await exchange(
        auth_client, service, user_tokens["access_token"], **{param: AUDIENCE}
    )

    body = assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    assert (await verified_claims(auth_client, body["access_token"]))["aud"] == AUDIENCE


async def test_discovery_lists_the_token_exchange_grant(auth_client: httpx.AsyncClient) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        metadata = (await auth_client.get(path)).json()
        assert TOKEN_EXCHANGE in metadata["grant_types_supported"]


# --- The same grant family: revoking the original grant revokes the exchanged token ---

REVOKED = "the access token was revoked"


async def refused_by_api_within(
    resource: httpx.AsyncClient, access_token: str, seconds: float
) -> httpx.Response:
    """Call the resource API until it refuses `access_token` (its revocation feed polls)."""
    started = time.monotonic()
    while True:
        response = await resource.get("/api/v1/me", headers=bearer(access_token))
        if response.status_code != 200:
            return response
        assert time.monotonic() - started < seconds, "exchanged token still accepted"
        await asyncio.sleep(0.2)


async def test_token_exchange_revoking_the_original_grant_revokes_the_exchanged_token(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    service: TestClient,
    user_tokens: dict[str, Any],
    introspector: TestClient,
    resource_client: httpx.AsyncClient,
) -> None:
    response = await exchange(auth_client, service, user_tokens["access_token"])
    exchanged = assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    token = exchanged["access_token"]
    assert (await resource_client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    assert (await introspect(auth_client, introspector, token)).json()["active"] is True

    # RFC 7009 §2.1: revoking the app's refresh token revokes its grant, the whole family.
    revoked = await revoke(
        auth_client, confidential_client, user_tokens["refresh_token"], hint="refresh_token"
    )
    assert revoked.status_code == 200, revoked.text

    (grant,) = await db.all(Grant)
    assert grant.revoked_at is not None
    assert (await introspect(auth_client, introspector, token)).json() == {"active": False}
    refusal = await refused_by_api_within(resource_client, token, 5.0)
    assert_oauth_error(refusal, "invalid_token", status=401, description=REVOKED)
    assert refusal.headers["www-authenticate"] == (
        f'Bearer realm="myauth-api", error="invalid_token", error_description="{REVOKED}", '
        'resource_metadata="http://resource.test/.well-known/oauth-protected-resource"'
    )
    # And the service cannot exchange the user's token again.
    again = await exchange(auth_client, service, user_tokens["access_token"])
    assert_oauth_error(again, "invalid_request", description=NOT_ACTIVE)


async def test_token_exchange_user_revoking_the_app_revokes_the_exchanged_token(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    service: TestClient,
    user_tokens: dict[str, Any],
    introspector: TestClient,
) -> None:
    response = await exchange(auth_client, service, user_tokens["access_token"])
    token = assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)[
        "access_token"
    ]
    page = await auth_client.get("/account/apps")  # the user's browser, still signed in
    assert page.status_code == 200, page.text

    revoked = await auth_client.post(
        "/account/apps/revoke",
        data={"client_id": confidential_client.client_id, "csrf_token": csrf_from(page.text)},
    )

    assert revoked.status_code == 303, revoked.text
    (grant,) = await db.all(Grant)
    assert grant.revoked_at is not None
    # The revocation is published until the family's last access token, the exchanged one
    # included, has expired.
    (event,) = await db.all(RevocationEvent)
    claims = await verified_claims(auth_client, token)
    assert (event.kind, event.value) == ("grant", claims["grant_id"])
    assert event.expires_at.timestamp() >= claims["exp"]
    assert (await introspect(auth_client, introspector, token)).json() == {"active": False}


# --- Refusals: who may exchange ---


async def test_token_exchange_client_without_the_grant_returns_unauthorized_client(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    await refused(
        auth_app,
        db,
        exchange(auth_client, confidential_client, user_tokens["access_token"]),
        "unauthorized_client",
        f"this client may not use grant_type={TOKEN_EXCHANGE}",
    )


async def test_token_exchange_public_client_row_with_grant_returns_unauthorized_client(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    public_client: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    # Registration refuses this combination; a row edited by hand still gets no token.
    async with db.sessionmaker() as session:
        await session.exec(
            update(Client)
            .where(col(Client.client_id) == public_client.client_id)
            .values(grant_types=[TOKEN_EXCHANGE])
        )
        await session.commit()

    await refused(
        auth_app,
        db,
        exchange(auth_client, public_client, user_tokens["access_token"]),
        "unauthorized_client",
        "token exchange is only for confidential clients",
    )


async def test_token_exchange_registration_refuses_public_clients(db: Database) -> None:
    with pytest.raises(ClientMetadataError, match="a public client cannot use"):
        await make_client(db, is_public=True, grant_types=[TOKEN_EXCHANGE])
    with pytest.raises(ClientMetadataError, match="only a confidential client can exchange"):
        await make_client(db, is_public=True, may_exchange_for=["x"])
    with pytest.raises(ClientMetadataError, match="no such client: nobody"):
        await make_client(db, grant_types=[TOKEN_EXCHANGE], may_exchange_for=["nobody"])


async def test_token_exchange_token_of_a_client_not_allowed_returns_invalid_request(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, user_tokens: dict[str, Any]
) -> None:
    stranger = await make_client(db, grant_types=[TOKEN_EXCHANGE], scope=SERVICE_SCOPE)

    # RFC 8693 §2.2.2: a subject token unacceptable by policy is invalid_request.
    await refused(
        auth_app,
        db,
        exchange(auth_client, stranger, user_tokens["access_token"]),
        "invalid_request",
        NOT_ALLOWED,
    )


async def test_token_exchange_actor_token_of_a_client_not_allowed_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    other = await make_client(db, grant_types=["client_credentials"], scope="read:notes")
    actor = await actor_token(auth_client, other)

    await refused(
        auth_app,
        db,
        exchange(
            auth_client,
            service,
            user_tokens["access_token"],
            actor_token=actor,
            actor_token_type=ACCESS_TOKEN_TYPE,
        ),
        "invalid_request",
        "the actor_token must be a token issued to this client",
    )


# --- Refusals: the request's shape (RFC 8693 §2.1, §2.2.2) ---

ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"subject_token": None}, "subject_token is required"),
        ({"subject_token_type": None}, "subject_token_type is required"),
        (
            {"subject_token_type": REFRESH_TOKEN_TYPE},
            f"subject_token_type must be {ACCESS_TOKEN_TYPE}",
        ),
        ({"subject_token_type": "access_token"}, f"subject_token_type must be {ACCESS_TOKEN_TYPE}"),
        (
            {"actor_token_type": ACCESS_TOKEN_TYPE},
            "actor_token and actor_token_type come together or not at all",
        ),
        ({"actor_token": "x"}, "actor_token and actor_token_type come together or not at all"),
        (
            {"actor_token": "x", "actor_token_type": ID_TOKEN_TYPE},
            f"actor_token_type must be {ACCESS_TOKEN_TYPE}",
        ),
        (
            {"requested_token_type": REFRESH_TOKEN_TYPE},
            f"requested_token_type must be {ACCESS_TOKEN_TYPE}",
        ),
        (
            {"requested_token_type": ID_TOKEN_TYPE},
            f"requested_token_type must be {ACCESS_TOKEN_TYPE}",
        ),
    ],
)
async def test_token_exchange_bad_token_parameters_return_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
    params: dict[str, str | None],
    description: str,
) -> None:
    subject = params.pop("subject_token", user_tokens["access_token"])
    await refused(
        auth_app,
        db,
        exchange(auth_client, service, subject, **params),
        "invalid_request",
        description,
    )


async def test_token_exchange_requested_access_token_type_is_accepted(
    auth_client: httpx.AsyncClient, service: TestClient, user_tokens: dict[str, Any]
) -> None:
    response = await exchange(
        auth_client, service, user_tokens["access_token"], requested_token_type=ACCESS_TOKEN_TYPE
    )

    assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)


# --- Refusals: the subject token itself ---


@pytest.fixture
def forger(settings: AuthSettings, signing_key: SigningKey) -> Forger:
    return Forger.from_key_dir(settings.key_dir, signing_key.kid)


async def test_token_exchange_tampered_subject_token_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    tampered = with_claims(user_tokens["access_token"], scope="openid profile read:notes admin")

    await refused(
        auth_app,
        db,
        exchange(auth_client, service, tampered),
        "invalid_request",
        NOT_ACTIVE,
    )


@pytest.mark.parametrize(
    "overrides",
    [{"iss": "http://other-issuer.test"}, {"aud": "http://elsewhere.test"}],
    ids=["other-issuer", "other-audience"],
)
async def test_token_exchange_subject_token_not_for_us_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    forger: Forger,
    user: TestUser,
    confidential_client: TestClient,
    service: TestClient,
    overrides: dict[str, str],
) -> None:
    # Signed with our real key, so only the issuer (or audience) check can refuse it.
    claims = access_claims(
        clock(), sub=user.id, client_id=confidential_client.client_id, **overrides
    )

    await refused(
        auth_app,
        db,
        exchange(auth_client, service, forger.sign(claims)),
        "invalid_request",
        NOT_ACTIVE,
    )


async def test_token_exchange_subject_token_with_other_typ_or_unknown_key_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    forger: Forger,
    user: TestUser,
    confidential_client: TestClient,
    service: TestClient,
) -> None:
    claims = access_claims(clock(), sub=user.id, client_id=confidential_client.client_id)
    for token in (forger.sign(claims, typ="JWT"), forger.sign(claims, kid="unknown-kid")):
        await refused(
            auth_app, db, exchange(auth_client, service, token), "invalid_request", NOT_ACTIVE
        )


async def test_token_exchange_expired_subject_token_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    clock.advance(DEFAULT_ACCESS_TOKEN_TTL)

    # RFC 8693 §2.2.2: a subject token invalid for any reason is invalid_request.
    await refused(
        auth_app,
        db,
        exchange(auth_client, service, user_tokens["access_token"]),
        "invalid_request",
        NOT_ACTIVE,
    )


async def test_token_exchange_revoked_subject_token_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    revoked = await revoke(auth_client, confidential_client, user_tokens["access_token"])
    assert revoked.status_code == 200, revoked.text

    await refused(
        auth_app,
        db,
        exchange(auth_client, service, user_tokens["access_token"]),
        "invalid_request",
        NOT_ACTIVE,
    )


async def test_token_exchange_subject_whose_grant_was_revoked_unannounced_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    # The grant row says revoked while no revocation event says so yet (another instance's
    # commit, not yet read): the family lock still refuses it.
    async with db.sessionmaker() as session:
        await session.exec(update(Grant).values(revoked_at=Grant.created_at))
        await session.commit()

    await refused(
        auth_app,
        db,
        exchange(auth_client, service, user_tokens["access_token"]),
        "invalid_request",
        NOT_ACTIVE,
    )


@pytest.mark.parametrize("token", ["refresh_token", "id_token"])
async def test_token_exchange_other_token_kinds_as_subject_return_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
    token: str,
) -> None:
    # Declared an access token, but a refresh token or ID token is not one (RFC 9068 §4 typ).
    await refused(
        auth_app,
        db,
        exchange(auth_client, service, user_tokens[token]),
        "invalid_request",
        NOT_ACTIVE,
    )


async def test_token_exchange_forged_actor_token_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    actor = with_claims(await actor_token(auth_client, service), sub="someone-else")

    await refused(
        auth_app,
        db,
        exchange(
            auth_client,
            service,
            user_tokens["access_token"],
            actor_token=actor,
            actor_token_type=ACCESS_TOKEN_TYPE,
        ),
        "invalid_request",
        "the actor_token is not an active access token of this server",
    )


# --- Refusals: scope and audience ---


@pytest.mark.parametrize(
    ("scope", "description"),
    [
        ("read:notes write:notes", "scope write:notes is not in the subject token's scope"),
        ("openid", "scope not allowed for this client: openid"),
        ("read:notes  profile", "scope must be space-separated scope tokens"),
    ],
)
async def test_token_exchange_scope_beyond_subject_or_client_returns_invalid_scope(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
    scope: str,
    description: str,
) -> None:
    await refused(
        auth_app,
        db,
        exchange(auth_client, service, user_tokens["access_token"], scope=scope),
        "invalid_scope",
        description,
    )


async def test_token_exchange_subject_with_no_scope_the_client_has_returns_invalid_scope(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    narrow = await make_client(
        db,
        grant_types=[TOKEN_EXCHANGE],
        scope="write:notes",
        may_exchange_for=[confidential_client.client_id],
    )

    await refused(
        auth_app,
        db,
        exchange(auth_client, narrow, user_tokens["access_token"]),
        "invalid_scope",
        "no scope to exchange: the subject token has none the client may use",
    )


@pytest.mark.parametrize(
    ("params", "description"),
    [
        # The user's grant names no resources: the default audience only (RFC 8707 §2.1).
        (
            {"audience": "http://other-api.test"},
            "the target is not among the resources the user authorized",
        ),
        (
            {"resource": "http://other-api.test"},
            "the target is not among the resources the user authorized",
        ),
        (
            {"audience": AUDIENCE, "resource": "http://other-api.test"},
            "audience and resource name different targets: ask for one",
        ),
    ],
)
async def test_token_exchange_audience_not_allowed_returns_invalid_target(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
    params: dict[str, str],
    description: str,
) -> None:
    # RFC 8693 §2.2.2: unwilling to issue for the target: invalid_target.
    await refused(
        auth_app,
        db,
        exchange(auth_client, service, user_tokens["access_token"], **params),
        "invalid_target",
        description,
    )


async def test_token_exchange_repeated_audience_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    body = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", user_tokens["access_token"]),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("audience", AUDIENCE),
        ("audience", "http://other-api.test"),
    ]
    # One audience per token (RFC 8707 §2 narrowing); RFC 6749 §3.1 refuses repeats.
    await refused(
        auth_app,
        db,
        auth_client.post(
            "/oauth/token",
            content=urlencode(body),
            headers={"content-type": "application/x-www-form-urlencoded"},
            auth=service.basic_auth(),
        ),
        "invalid_request",
        "parameter audience was sent more than once",
    )


CALENDAR_API = "http://calendar-api.test"


async def tokens_for_apis(
    auth: httpx.AsyncClient, db: Database, app: TestClient, user: TestUser, *apis: str
) -> dict[str, Any]:
    """The user's tokens at the app, for the default audience, with `apis` authorized too
    (RFC 8707 §2.1): the resources an exchange of them may then target."""
    await make_resource_server(db, AUDIENCE, scopes=("profile", "read:notes"))
    request = ResourceRequest(app, scope=USER_SCOPE, resources=[AUDIENCE, *apis])
    code = await get_code(auth, request, user)
    # RFC 8707 §2.2: with several resources granted, the token request names one.
    response = await exchange_code(auth, request, code, resource=AUDIENCE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_token_exchange_unregistered_resource_returns_invalid_target(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, service: TestClient
) -> None:
    # A client_credentials subject has no grant to keep to: the registry decides.
    own = await actor_token(auth_client, service)

    await refused(
        auth_app,
        db,
        exchange(auth_client, service, own, resource="http://other-api.test"),
        "invalid_target",
        "the resource is not a registered resource server",
    )


async def test_token_exchange_for_another_resource_narrows_aud_and_scope_and_carries_act(
    auth_client: httpx.AsyncClient,
    db: Database,
    user: TestUser,
    service: TestClient,
    confidential_client: TestClient,
) -> None:
    # RFC 8693 §2.1 resource + RFC 8707 §2: a token limited to another registered resource,
    # with only the scopes it serves; the actor is named in act (RFC 8693 §4.1).
    await make_resource_server(db, CALENDAR_API, scopes=("read:notes",))
    user_tokens = await tokens_for_apis(auth_client, db, confidential_client, user, CALENDAR_API)
    actor = await actor_token(auth_client, service)

    response = await exchange(
        auth_client,
        service,
        user_tokens["access_token"],
        resource=CALENDAR_API,
        actor_token=actor,
        actor_token_type=ACCESS_TOKEN_TYPE,
    )

    body = assert_exchanged(response, "read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    claims = await verified_claims(auth_client, body["access_token"])
    assert (claims["aud"], claims["sub"]) == (CALENDAR_API, user.id)
    assert claims["act"] == {"sub": service.client_id}


async def test_token_exchange_audience_naming_a_registered_resource_is_the_same_target(
    auth_client: httpx.AsyncClient,
    db: Database,
    user: TestUser,
    service: TestClient,
    confidential_client: TestClient,
) -> None:
    await make_resource_server(db, CALENDAR_API, scopes=("profile", "read:notes"))
    user_tokens = await tokens_for_apis(auth_client, db, confidential_client, user, CALENDAR_API)

    response = await exchange(
        auth_client, service, user_tokens["access_token"], audience=CALENDAR_API
    )

    body = assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    assert (await verified_claims(auth_client, body["access_token"]))["aud"] == CALENDAR_API


async def test_token_exchange_resource_the_client_may_not_target_returns_invalid_target(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    user: TestUser,
    service: TestClient,
    confidential_client: TestClient,
) -> None:
    await make_resource_server(db, CALENDAR_API, scopes=("read:notes",))
    user_tokens = await tokens_for_apis(auth_client, db, confidential_client, user, CALENDAR_API)
    await make_resource_server(db, "http://other-api.test", scopes=("read:notes",))
    async with db.sessionmaker() as session:
        await session.exec(
            update(Client)
            .where(col(Client.client_id) == service.client_id)
            .values(resources=["http://other-api.test"])
        )
        await session.commit()

    await refused(
        auth_app,
        db,
        exchange(auth_client, service, user_tokens["access_token"], resource=CALENDAR_API),
        "invalid_target",
        "this client may not ask for tokens for the resource",
    )


async def test_token_exchange_resource_serving_none_of_the_scopes_returns_invalid_scope(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    user: TestUser,
    service: TestClient,
    confidential_client: TestClient,
) -> None:
    await make_resource_server(db, CALENDAR_API, scopes=("write:notes",))
    user_tokens = await tokens_for_apis(auth_client, db, confidential_client, user, CALENDAR_API)

    await refused(
        auth_app,
        db,
        exchange(auth_client, service, user_tokens["access_token"], resource=CALENDAR_API),
        "invalid_scope",
        "none of the scopes is served by the requested resource",
    )
