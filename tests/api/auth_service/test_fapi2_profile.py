"""The per-client FAPI 2.0 profile (`profile: "fapi2"`): what registering it forces, the full
flow it allows, and every request it refuses, each with its standard error and nothing stored."""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode
from typing import Any

import httpx
import pytest
from sqlmodel import update

from auth_service.clients.registry import ClientKeys, ClientMetadataError
from auth_service.config import AuthSettings
from shared.models import (
    AuthorizationCode,
    Client,
    Grant,
    PushedAuthorizationRequest,
    RefreshToken,
)
from tests.api.auth_service.test_par import authorize_url, sign_in_and_allow
from tests.conftest import ISSUER
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.assertions_jwt import (
    ClientKey,
    assertion_claims,
    assertion_form,
    jwks_of,
    new_client_key,
    sign_assertion,
)
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.dpop import DpopKey
from tests.support.flows import AuthorizationRequest
from tests.support.lifecycle import bearer
from tests.support.pages import assert_client_code

PAR_URL = f"{ISSUER}/oauth/par"
TOKEN_URL = f"{ISSUER}/oauth/token"
INITIAL_TOKEN = "initial-access-token-for-fapi2-tests-0123"  # noqa: S105 - test credential


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    # Codes would live 300 s for other clients: the profile's 60 s bound is what is tested.
    return settings.model_copy(
        update={"registration_initial_access_token": INITIAL_TOKEN, "authorization_code_ttl": 300}
    )


@pytest.fixture(scope="module")
def key() -> ClientKey:
    return new_client_key("PS256")


@pytest.fixture
async def fapi_client(db: Database, key: ClientKey) -> TestClient:
    return await make_client(
        db,
        profile="fapi2",
        token_endpoint_auth_method="private_key_jwt",
        keys=ClientKeys(jwks=jwks_of(key)),
        grant_types=["authorization_code", "refresh_token"],
    )


def authenticated(
    key: ClientKey, client: TestClient, clock: TestClock, **form: str
) -> dict[str, str]:
    """The form with a fresh private_key_jwt assertion (RFC 7523 §2.2) at the server's time."""
    now = int(clock().timestamp())
    claims = assertion_claims(client.client_id, iat=now, exp=now + 60)
    return {**form, **assertion_form(sign_assertion(key, claims))}


def header_alg(token: str) -> str:
    segment = token.split(".")[0]
    alg: str = json.loads(urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))["alg"]
    return alg


async def push(
    auth: httpx.AsyncClient,
    key: ClientKey,
    client: TestClient,
    clock: TestClock,
    dpop: DpopKey,
    request: AuthorizationRequest,
) -> httpx.Response:
    form = authenticated(key, client, clock, **request.params())
    headers = {"DPoP": dpop.proof("POST", PAR_URL, now=clock())}
    return await auth.post("/oauth/par", data=form, headers=headers)


async def code_for(
    auth: httpx.AsyncClient,
    key: ClientKey,
    client: TestClient,
    user: TestUser,
    clock: TestClock,
    dpop: DpopKey,
    request: AuthorizationRequest,
) -> str:
    pushed = await push(auth, key, client, clock, dpop, request)
    assert pushed.status_code == 201, pushed.text
    response = await auth.get(authorize_url(client.client_id, pushed.json()["request_uri"]))
    answer = await sign_in_and_allow(auth, user, response)
    # RFC 9207: the response names its issuer (FAPI 2.0 asks the client to check it).
    assert f"iss={ISSUER.replace(':', '%3A').replace('/', '%2F')}" in answer.headers["location"]
    return assert_client_code(answer, REDIRECT_URI, state=request.state)


async def redeem(
    auth: httpx.AsyncClient,
    key: ClientKey,
    client: TestClient,
    clock: TestClock,
    request: AuthorizationRequest,
    code: str,
    proof: str | None,
) -> httpx.Response:
    form = authenticated(
        key, client, clock, grant_type="authorization_code", code=code,
        redirect_uri=request.redirect_uri, code_verifier=request.verifier,
    )  # fmt: skip
    return await auth.post("/oauth/token", data=form, headers={"DPoP": proof} if proof else {})


async def refresh(
    auth: httpx.AsyncClient,
    key: ClientKey,
    client: TestClient,
    clock: TestClock,
    token: str,
    proof: str | None,
) -> httpx.Response:
    form = authenticated(key, client, clock, grant_type="refresh_token", refresh_token=token)
    return await auth.post("/oauth/token", data=form, headers={"DPoP": proof} if proof else {})


# --- Registration ---


async def register(auth: httpx.AsyncClient, key: ClientKey, **changes: Any) -> httpx.Response:
    metadata = {
        "client_name": "FAPI App",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": jwks_of(key),
        "profile": "fapi2",
        **changes,
    }
    body = {k: v for k, v in metadata.items() if v is not None}
    return await auth.post("/oauth/register", json=body, headers=bearer(INITIAL_TOKEN))


async def test_registering_fapi2_forces_par_dpop_and_a_fapi_signing_algorithm(
    db: Database, auth_client: httpx.AsyncClient, key: ClientKey
) -> None:
    response = await register(
        auth_client, key, require_pushed_authorization_requests=False,
        dpop_bound_access_tokens=False,
    )  # fmt: skip

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["profile"] == "fapi2"
    assert body["require_pushed_authorization_requests"] is True
    assert body["dpop_bound_access_tokens"] is True
    assert body["id_token_signed_response_alg"] == "PS256"  # FAPI 2.0 §5.4.1: never RS256
    (client,) = await db.all(Client)
    assert (client.profile, client.require_pkce) == ("fapi2", True)
    assert client.require_pushed_authorization_requests and client.dpop_bound_access_tokens


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"token_endpoint_auth_method": "client_secret_basic", "jwks": None}, "private_key_jwt"),
        ({"grant_types": ["authorization_code", "password"]}, "grant_types"),
        ({"id_token_signed_response_alg": "RS256"}, "id_token_signed_response_alg"),
        ({"token_endpoint_auth_signing_alg": "RS256"}, "token_endpoint_auth_signing_alg"),
        ({"profile": "fapi3"}, "profile must be fapi2"),
    ],
)
async def test_registering_fapi2_against_its_rules_is_invalid_client_metadata(
    db: Database, auth_client: httpx.AsyncClient, key: ClientKey, changes: dict[str, Any], text: str
) -> None:
    response = await register(auth_client, key, **changes)

    assert_oauth_error(response, "invalid_client_metadata")
    assert text in response.json()["error_description"]
    assert await db.all(Client) == []


# --- The whole flow ---


async def test_fapi2_flow_par_private_key_jwt_dpop_and_a_kept_bound_refresh_token(
    db: Database,
    auth_client: httpx.AsyncClient,
    fapi_client: TestClient,
    key: ClientKey,
    user: TestUser,
    clock: TestClock,
) -> None:
    dpop = DpopKey("ES256")
    request = AuthorizationRequest(fapi_client)
    code = await code_for(auth_client, key, fapi_client, user, clock, dpop, request)
    (stored,) = await db.all(AuthorizationCode)
    # FAPI 2.0 §5.3.2.2 (codes at most 60 s) though the server's setting says 300.
    assert (stored.expires_at - stored.created_at).total_seconds() == 60

    tokens = await redeem(
        auth_client,
        key,
        fapi_client,
        clock,
        request,
        code,
        dpop.proof("POST", TOKEN_URL, now=clock()),
    )

    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "DPoP"
    assert header_alg(body["access_token"]) == header_alg(body["id_token"]) == "PS256"
    refreshed = await refresh(
        auth_client, key, fapi_client, clock, body["refresh_token"],
        dpop.proof("POST", TOKEN_URL, now=clock()),
    )  # fmt: skip
    assert refreshed.status_code == 200, refreshed.text
    # FAPI 2.0 §5.3.2.1: not rotated; the same token is answered again and still works.
    assert refreshed.json()["refresh_token"] == body["refresh_token"]
    (token_row,) = await db.all(RefreshToken)
    assert token_row.rotated_at is None
    again = await refresh(
        auth_client, key, fapi_client, clock, body["refresh_token"],
        dpop.proof("POST", TOKEN_URL, now=clock()),
    )  # fmt: skip
    assert again.status_code == 200, again.text

    stolen = await refresh(
        auth_client, key, fapi_client, clock, body["refresh_token"],
        DpopKey("ES256").proof("POST", TOKEN_URL, now=clock()),
    )  # fmt: skip
    assert_oauth_error(stolen, "invalid_grant")
    unbound = await refresh(auth_client, key, fapi_client, clock, body["refresh_token"], None)
    assert_oauth_error(unbound, "invalid_dpop_proof")


# --- Refused requests ---


async def test_fapi2_client_must_push_its_request(
    auth_client: httpx.AsyncClient, fapi_client: TestClient
) -> None:
    request = AuthorizationRequest(fapi_client)
    response = await auth_client.get("/oauth/authorize", params=request.params())

    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]
    assert "pushed+authorization+requests" in response.headers["location"]


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"redirect_uri": None}, "redirect_uri is required"),
        ({"code_challenge": None, "code_challenge_method": None}, "code_challenge is required"),
    ],
)
async def test_fapi2_push_without_redirect_uri_or_pkce_is_invalid_request_and_stores_nothing(
    db: Database,
    auth_client: httpx.AsyncClient,
    fapi_client: TestClient,
    key: ClientKey,
    clock: TestClock,
    extra: dict[str, str | None],
    text: str,
) -> None:
    request = AuthorizationRequest(fapi_client, extra=extra)
    response = await push(auth_client, key, fapi_client, clock, DpopKey("ES256"), request)

    assert_oauth_error(response, "invalid_request")
    assert text in response.json()["error_description"]
    assert await db.all(PushedAuthorizationRequest) == []


async def test_fapi2_token_request_without_dpop_proof_is_refused_and_the_code_stays(
    db: Database,
    auth_client: httpx.AsyncClient,
    fapi_client: TestClient,
    key: ClientKey,
    user: TestUser,
    clock: TestClock,
) -> None:
    dpop = DpopKey("ES256")
    request = AuthorizationRequest(fapi_client)
    code = await code_for(auth_client, key, fapi_client, user, clock, dpop, request)

    response = await redeem(auth_client, key, fapi_client, clock, request, code, None)

    assert_oauth_error(response, "invalid_dpop_proof")
    assert await db.all(RefreshToken) == []
    (stored,) = await db.all(AuthorizationCode)
    assert stored.used_at is None


async def test_fapi2_code_is_refused_after_60_seconds(
    auth_client: httpx.AsyncClient,
    fapi_client: TestClient,
    key: ClientKey,
    user: TestUser,
    clock: TestClock,
) -> None:
    dpop = DpopKey("ES256")
    request = AuthorizationRequest(fapi_client)
    code = await code_for(auth_client, key, fapi_client, user, clock, dpop, request)
    clock.advance(61)

    response = await redeem(
        auth_client,
        key,
        fapi_client,
        clock,
        request,
        code,
        dpop.proof("POST", TOKEN_URL, now=clock()),
    )

    assert_oauth_error(response, "invalid_grant")


async def test_fapi2_client_assertion_signed_rs256_is_invalid_client(
    db: Database, auth_client: httpx.AsyncClient, clock: TestClock
) -> None:
    """FAPI 2.0 §5.4.1: never RS256, even with a key the client registered for it."""
    rsa = new_client_key("RS256")
    client = await make_client(
        db, profile="fapi2", token_endpoint_auth_method="private_key_jwt",
        keys=ClientKeys(jwks=jwks_of(rsa)), grant_types=["authorization_code", "refresh_token"],
    )  # fmt: skip
    request = AuthorizationRequest(client)

    response = await push(auth_client, rsa, client, clock, DpopKey("ES256"), request)

    assert_oauth_error(response, "invalid_client", status=401)
    assert await db.all(PushedAuthorizationRequest) == []


async def test_fapi2_client_with_the_password_grant_cannot_be_registered(db: Database) -> None:
    """FAPI 2.0 §5.3.2.1: no resource owner password grant, from the CLI or the portal either."""
    with pytest.raises(ClientMetadataError, match="a fapi2 client cannot use the password grant"):
        await make_client(
            db, profile="fapi2", token_endpoint_auth_method="private_key_jwt",
            keys=ClientKeys(jwks=jwks_of(new_client_key("ES256"))),
            grant_types=["authorization_code", "password"], is_first_party=True,
        )  # fmt: skip
    assert await db.all(Client) == []


async def test_fapi2_client_cannot_use_the_password_grant(
    db: Database, auth_client: httpx.AsyncClient, fapi_client: TestClient, key: ClientKey,
    user: TestUser, clock: TestClock,
) -> None:  # fmt: skip
    form = authenticated(
        key, fapi_client, clock, grant_type="password", username=user.username,
        password=user.password, scope="openid",
    )  # fmt: skip
    headers = {"DPoP": DpopKey("ES256").proof("POST", TOKEN_URL, now=clock())}

    response = await auth_client.post("/oauth/token", data=form, headers=headers)

    assert_oauth_error(response, "unauthorized_client")
    assert await db.all(RefreshToken) == []


async def test_fapi2_kept_refresh_token_of_an_unbound_grant_is_bound_at_its_first_use(
    db: Database,
    auth_client: httpx.AsyncClient,
    fapi_client: TestClient,
    key: ClientKey,
    user: TestUser,
    clock: TestClock,
) -> None:
    """A grant from before the client took the profile has no DPoP key: the first refresh
    binds it, so the kept (never rotated) token is not a bearer token afterwards."""
    dpop = DpopKey("ES256")
    request = AuthorizationRequest(fapi_client)
    code = await code_for(auth_client, key, fapi_client, user, clock, dpop, request)
    tokens = await redeem(
        auth_client,
        key,
        fapi_client,
        clock,
        request,
        code,
        dpop.proof("POST", TOKEN_URL, now=clock()),
    )
    token = tokens.json()["refresh_token"]
    await db.run(lambda repos: repos.session.exec(update(Grant).values(dpop_jkt=None)))
    other = DpopKey("ES256")

    first = await refresh(
        auth_client, key, fapi_client, clock, token, other.proof("POST", TOKEN_URL, now=clock())
    )

    assert first.status_code == 200, first.text
    (grant,) = await db.all(Grant)
    assert grant.dpop_jkt == other.jkt
    old_key = await refresh(
        auth_client, key, fapi_client, clock, token, dpop.proof("POST", TOKEN_URL, now=clock())
    )
    assert_oauth_error(old_key, "invalid_grant")


async def test_fapi2_request_object_without_nbf_is_refused_at_par(
    db: Database, auth_client: httpx.AsyncClient, fapi_client: TestClient, key: ClientKey,
    clock: TestClock,
) -> None:  # fmt: skip
    """FAPI 2.0 Message Signing §5.3.1: nbf is required of a fapi2 client's request objects."""
    request = AuthorizationRequest(fapi_client)
    now = int(clock().timestamp())
    claims = {**request.params(), "iss": fapi_client.client_id, "aud": ISSUER, "exp": now + 300}
    signed = sign_assertion(key, claims, typ="oauth-authz-req+jwt")
    form = authenticated(key, fapi_client, clock, client_id=fapi_client.client_id, request=signed)
    headers = {"DPoP": DpopKey("ES256").proof("POST", PAR_URL, now=clock())}

    response = await auth_client.post("/oauth/par", data=form, headers=headers)

    assert_oauth_error(response, "invalid_request_object")
    assert "nbf" in response.json()["error_description"]
    assert await db.all(PushedAuthorizationRequest) == []
