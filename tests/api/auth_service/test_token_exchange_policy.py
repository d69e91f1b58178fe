"""Token exchange (RFC 8693) policy: which subject and actor tokens a client may present.

A DPoP-bound token is exchanged only with a proof of its key (RFC 9449 §6.1); the target stays
within the resources the user authorized (RFC 8707 §2.1), the default audience when the grant
named none; another client's token is exchanged only when it acts for a user, of a client the
exchanging one may exchange for; the actor token is the client's own client_credentials token
and caps the lifetime; deleting the app revokes what was exchanged from its users' grants.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.clients.registry import delete_client
from auth_service.repositories import Repositories
from shared.models import AuditEvent, RevocationEvent
from tests.api.auth_service.test_token_exchange import (
    ACCESS_TOKEN_TYPE,
    DEFAULT_ACCESS_TOKEN_TTL,
    REVOKED,
    SERVICE_SCOPE,
    TOKEN_EXCHANGE,
    actor_token,
    assert_exchanged,
    exchange,
    refused,
    refused_by_api_within,
)
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, TestUser, make_client, make_resource_server
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.dpop import DpopKey, dpop_code_flow_token
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.lifecycle import bearer, client_credentials, introspect, verified_claims
from tests.support.resources import ResourceRequest

TOKEN_URL = f"{ISSUER}/oauth/token"
NOTES_API = "https://notes.example/api"
CALENDAR_API = "https://calendar.example"
ACTOR_NOT_OWN = "the actor_token must be a token issued to this client"
ACTOR_NOT_CLIENT_CREDENTIALS = "the actor_token must be a client_credentials token"
NOT_FOR_A_USER = "a subject_token of another client must come from a user grant"
NOT_AUTHORIZED_TARGET = "the target is not among the resources the user authorized"


async def exchange_with_proof(
    auth: httpx.AsyncClient,
    client: TestClient,
    subject_token: str,
    proof: str | None,
    **params: str,
) -> httpx.Response:
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        **params,
    }
    headers = {"DPoP": proof} if proof is not None else {}
    return await auth.post("/oauth/token", data=data, headers=headers, auth=client.basic_auth())


# --- 1. A DPoP-bound token is exchanged only with a proof of its key (RFC 9449 §6.1) ---


@pytest.fixture
async def dpop_app(db: Database) -> TestClient:
    """An app whose users' tokens are DPoP-bound and which exchanges its own tokens."""
    return await make_client(db, grant_types=["authorization_code", TOKEN_EXCHANGE])


async def test_token_exchange_dpop_bound_subject_without_proof_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    user: TestUser,
    dpop_app: TestClient,
) -> None:
    subject_token = await dpop_code_flow_token(auth_client, dpop_app, user, DpopKey(), clock())

    # Without the key the bound token is a bearer token again: refused (RFC 8693 §2.2.2).
    await refused(
        auth_app,
        db,
        exchange(auth_client, dpop_app, subject_token),
        "invalid_request",
        "the subject_token is bound to a DPoP key: send a DPoP proof",
    )


async def test_token_exchange_dpop_bound_subject_with_proof_of_another_key_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    user: TestUser,
    confidential_client: TestClient,
    service: TestClient,
) -> None:
    subject_token = await dpop_code_flow_token(
        auth_client, confidential_client, user, DpopKey(), clock()
    )
    service_proof = DpopKey().proof("POST", TOKEN_URL, now=clock())

    await refused(
        auth_app,
        db,
        exchange_with_proof(auth_client, service, subject_token, service_proof),
        "invalid_request",
        "the DPoP proof key is not the key the subject_token is bound to",
    )


async def test_token_exchange_dpop_bound_subject_with_proof_of_its_key_stays_bound_to_it(
    auth_client: httpx.AsyncClient, clock: TestClock, user: TestUser, dpop_app: TestClient
) -> None:
    key = DpopKey()
    subject_token = await dpop_code_flow_token(auth_client, dpop_app, user, key, clock())

    response = await exchange_with_proof(
        auth_client, dpop_app, subject_token, key.proof("POST", TOKEN_URL, now=clock())
    )

    # RFC 9449 §5: the exchange's proof binds the new token, as at every grant: the same key.
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert claims["cnf"] == {"jkt": key.jkt}


async def test_token_exchange_dpop_bound_subject_with_a_bad_proof_returns_invalid_dpop_proof(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    user: TestUser,
    dpop_app: TestClient,
) -> None:
    key = DpopKey()
    subject_token = await dpop_code_flow_token(auth_client, dpop_app, user, key, clock())
    wrong_url = key.proof("POST", f"{ISSUER}/oauth/par", now=clock())

    response = await refused(
        auth_app,
        db,
        exchange_with_proof(auth_client, dpop_app, subject_token, wrong_url),
        "invalid_dpop_proof",
        "the DPoP proof htu does not match the request URI",
    )
    assert response.status_code == 400


async def test_token_exchange_dpop_bound_actor_without_proof_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    bound = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read:notes"},
        headers={"DPoP": DpopKey().proof("POST", TOKEN_URL, now=clock())},
        auth=service.basic_auth(),
    )
    assert bound.json()["token_type"] == "DPoP", bound.text

    await refused(
        auth_app,
        db,
        exchange(
            auth_client,
            service,
            user_tokens["access_token"],
            actor_token=bound.json()["access_token"],
            actor_token_type=ACCESS_TOKEN_TYPE,
        ),
        "invalid_request",
        "the actor_token is bound to a DPoP key: send a DPoP proof",
    )


# --- 2. The target stays within the resources the user authorized (RFC 8707 §2.1) ---


@pytest.fixture
async def notes_tokens(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
) -> dict[str, Any]:
    """The user's tokens at the app for the notes API only; the calendar API exists too."""
    await make_resource_server(db, NOTES_API, scopes=("profile", "read:notes"))
    await make_resource_server(db, CALENDAR_API, scopes=("profile", "read:notes"))
    request = ResourceRequest(
        confidential_client, scope="openid profile read:notes", resources=[NOTES_API]
    )
    issued = await tokens_for(auth_client, request, user)
    await auth_app.state.audit_buffer.flush()
    return issued


@pytest.mark.parametrize(
    "params",
    [{"resource": CALENDAR_API}, {"audience": CALENDAR_API}, {"audience": AUDIENCE}],
    ids=["other-resource", "other-audience", "default-audience"],
)
async def test_token_exchange_target_outside_the_grants_resources_returns_invalid_target(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    notes_tokens: dict[str, Any],
    params: dict[str, str],
) -> None:
    # The service may target the calendar API, but the user authorized the notes API only.
    await refused(
        auth_app,
        db,
        exchange(auth_client, service, notes_tokens["access_token"], **params),
        "invalid_target",
        NOT_AUTHORIZED_TARGET,
    )


@pytest.mark.parametrize("params", [{}, {"resource": NOTES_API}], ids=["default", "named"])
async def test_token_exchange_target_among_the_grants_resources_is_issued(
    auth_client: httpx.AsyncClient,
    service: TestClient,
    notes_tokens: dict[str, Any],
    params: dict[str, str],
) -> None:
    response = await exchange(auth_client, service, notes_tokens["access_token"], **params)

    body = assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    assert (await verified_claims(auth_client, body["access_token"]))["aud"] == NOTES_API


# --- 3. Another client's token only when it acts for a user ---


async def test_token_exchange_client_credentials_token_of_another_client_returns_invalid_request(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database
) -> None:
    worker = await make_client(db, grant_types=["client_credentials"], scope="read:notes")
    service = await make_client(
        db,
        grant_types=[TOKEN_EXCHANGE],
        scope="read:notes",
        may_exchange_for=[worker.client_id],
    )
    worker_token = await actor_token(auth_client, worker)

    # The worker's own authority is no user's delegation: may_exchange_for does not cover it.
    await refused(
        auth_app,
        db,
        exchange(auth_client, service, worker_token),
        "invalid_request",
        NOT_FOR_A_USER,
    )


async def test_token_exchange_user_token_of_another_allowed_client_is_still_issued(
    auth_client: httpx.AsyncClient, service: TestClient, user_tokens: dict[str, Any]
) -> None:
    response = await exchange(auth_client, service, user_tokens["access_token"])

    assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)


# --- 4. The actor token is the client's own, and caps the lifetime ---


async def test_token_exchange_actor_token_of_an_allowed_client_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    # The app's token is one the service may exchange, but the service cannot act as the app.
    await refused(
        auth_app,
        db,
        exchange(
            auth_client,
            service,
            user_tokens["access_token"],
            actor_token=user_tokens["access_token"],
            actor_token_type=ACCESS_TOKEN_TYPE,
        ),
        "invalid_request",
        ACTOR_NOT_OWN,
    )


async def test_token_exchange_never_outlives_the_actor_token(
    auth_client: httpx.AsyncClient,
    clock: TestClock,
    user: TestUser,
    confidential_client: TestClient,
    service: TestClient,
) -> None:
    actor = await actor_token(auth_client, service)
    actor_exp = (await verified_claims(auth_client, actor))["exp"]
    clock.advance(800)
    fresh = await tokens_for(
        auth_client, AuthorizationRequest(confidential_client, scope="openid read:notes"), user
    )

    response = await exchange(
        auth_client,
        service,
        fresh["access_token"],
        actor_token=actor,
        actor_token_type=ACCESS_TOKEN_TYPE,
    )

    # min(client lifetime, subject's remaining ~900 s, actor's remaining ~100 s).
    body = assert_exchanged(response, "read:notes", 100)
    claims = await verified_claims(auth_client, body["access_token"])
    assert claims["exp"] == actor_exp
    assert claims["act"] == {"sub": service.client_id}


async def test_token_exchange_own_client_credentials_actor_is_accepted(
    auth_client: httpx.AsyncClient, service: TestClient, user_tokens: dict[str, Any]
) -> None:
    own = await client_credentials(auth_client, service, scope="read:notes")
    assert own.status_code == 200, own.text

    response = await exchange(
        auth_client,
        service,
        user_tokens["access_token"],
        actor_token=own.json()["access_token"],
        actor_token_type=ACCESS_TOKEN_TYPE,
    )

    body = assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    assert (await verified_claims(auth_client, body["access_token"]))["act"] == {
        "sub": service.client_id
    }


# --- 5. A grant that names no resources is for the default audience only (RFC 8707 §2.1) ---

ONLY_ITS_RESOURCES = "this client may only ask for tokens for its resources"


@pytest.mark.parametrize("param", ["resource", "audience"])
async def test_token_exchange_grant_without_resources_refuses_a_named_resource_server(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
    param: str,
) -> None:
    # The user authorized the app for the default audience; the service may target the
    # calendar API, but a refresh of the user's grant could not, and nor may an exchange.
    await make_resource_server(db, CALENDAR_API, scopes=("read:notes",))

    await refused(
        auth_app,
        db,
        exchange(auth_client, service, user_tokens["access_token"], **{param: CALENDAR_API}),
        "invalid_target",
        NOT_AUTHORIZED_TARGET,
    )


async def test_token_exchange_default_audience_unregistered_refuses_a_client_limited_to_resources(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    await make_resource_server(db, NOTES_API, scopes=("read:notes",))
    limited = await make_client(
        db,
        grant_types=[TOKEN_EXCHANGE],
        scope=SERVICE_SCOPE,
        may_exchange_for=[confidential_client.client_id],
        resources=[NOTES_API],
    )

    # As at client_credentials: a client limited to the notes API gets no default-audience token.
    await refused(
        auth_app,
        db,
        exchange(auth_client, limited, user_tokens["access_token"]),
        "invalid_target",
        ONLY_ITS_RESOURCES,
    )


async def test_token_exchange_default_audience_registered_keeps_the_userinfo_scopes(
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    # The default audience serves read:notes only; /oauth/userinfo still answers `profile`.
    await make_resource_server(db, AUDIENCE, scopes=("read:notes",))

    response = await exchange(auth_client, service, user_tokens["access_token"])

    body = assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    assert (await verified_claims(auth_client, body["access_token"]))["aud"] == AUDIENCE


# --- 6. may_exchange_for covers the client the user authorized, not only the token's ---

GRANT_NOT_ALLOWED = (
    "the subject_token comes from a grant of a client whose tokens this client may not exchange"
)


async def test_token_exchange_of_an_exchanged_token_needs_the_grants_client_allowed(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    downstream = await make_client(
        db, grant_types=[TOKEN_EXCHANGE], scope=SERVICE_SCOPE, may_exchange_for=[service.client_id]
    )
    first = await exchange(auth_client, service, user_tokens["access_token"])
    exchanged = assert_exchanged(first, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)

    # The token is the service's, but the user authorized the app, which downstream may not use.
    await refused(
        auth_app,
        db,
        exchange(auth_client, downstream, exchanged["access_token"]),
        "invalid_request",
        GRANT_NOT_ALLOWED,
    )


async def test_token_exchange_of_an_exchanged_token_with_both_clients_allowed_audits_the_grants(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    service: TestClient,
    user_tokens: dict[str, Any],
) -> None:
    downstream = await make_client(
        db,
        grant_types=[TOKEN_EXCHANGE],
        scope=SERVICE_SCOPE,
        may_exchange_for=[service.client_id, confidential_client.client_id],
    )
    first = await exchange(auth_client, service, user_tokens["access_token"])
    exchanged = assert_exchanged(first, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)

    response = await exchange(auth_client, downstream, exchanged["access_token"])

    assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)
    event = (await db.all(AuditEvent, AuditEvent.client_id == downstream.client_id))[0]
    assert event.event == "token_exchanged"
    assert (event.details["subject_client_id"], event.details["grant_client_id"]) == (
        service.client_id,
        confidential_client.client_id,
    )


# --- 7. Deleting the app revokes the tokens exchanged from its users' grants ---


async def test_token_exchange_deleting_the_app_revokes_the_exchanged_token(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    service: TestClient,
    user_tokens: dict[str, Any],
    introspector: TestClient,
    resource_client: httpx.AsyncClient,
) -> None:
    response = await exchange(auth_client, service, user_tokens["access_token"])
    token = assert_exchanged(response, "profile read:notes", DEFAULT_ACCESS_TOKEN_TTL)[
        "access_token"
    ]
    claims = await verified_claims(auth_client, token)
    assert (await resource_client.get("/api/v1/me", headers=bearer(token))).status_code == 200

    async def delete_app(repos: Repositories) -> None:
        app = await repos.clients.get_by_client_id(confidential_client.client_id)
        assert app is not None
        await delete_client(repos, app, now=datetime.now(UTC))

    await db.run(delete_app)

    # The token is the service's, so the `client` revocation misses it; its grant's does not.
    events = {(e.kind, e.value): e for e in await db.all(RevocationEvent)}
    assert ("client", confidential_client.client_id) in events
    assert events[("grant", claims["grant_id"])].expires_at.timestamp() >= claims["exp"]
    # Introspection follows the revocation feed: once it refuses the app's own token (the
    # `client` event) it has read the same transaction's `grant` event too.
    await inactive_within(auth_client, introspector, user_tokens["access_token"], 5.0)
    assert (await introspect(auth_client, introspector, token)).json() == {"active": False}
    refusal = await refused_by_api_within(resource_client, token, 5.0)
    assert_oauth_error(refusal, "invalid_token", status=401, description=REVOKED)


async def inactive_within(
    auth: httpx.AsyncClient, introspector: TestClient, token: str, seconds: float
) -> None:
    started = time.monotonic()
    while (await introspect(auth, introspector, token)).json()["active"]:
        assert time.monotonic() - started < seconds, "token still active"
        await asyncio.sleep(0.2)


# --- 8. The actor is the client acting, never a user ---


async def test_token_exchange_user_token_of_the_client_as_actor_returns_invalid_request(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
    user_tokens: dict[str, Any],
) -> None:
    both = await make_client(
        db,
        grant_types=[TOKEN_EXCHANGE, "authorization_code"],
        scope="openid " + SERVICE_SCOPE,
        may_exchange_for=[confidential_client.client_id],
    )
    own = await tokens_for(auth_client, AuthorizationRequest(both, scope="openid read:notes"), user)
    await auth_app.state.audit_buffer.flush()

    # Its own token, but a user's: `act.sub` would name the user, not the client acting.
    await refused(
        auth_app,
        db,
        exchange(
            auth_client,
            both,
            user_tokens["access_token"],
            actor_token=own["access_token"],
            actor_token_type=ACCESS_TOKEN_TYPE,
        ),
        "invalid_request",
        ACTOR_NOT_CLIENT_CREDENTIALS,
    )
