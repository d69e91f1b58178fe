"""A DPoP proof on a pushed authorization request binds the code to its key (RFC 9449 §10.1)."""

from __future__ import annotations

import httpx

from shared.models import AuthorizationCode, PushedAuthorizationRequest
from tests.api.auth_service.test_par import authorize_url, sign_in_and_allow
from tests.conftest import ISSUER
from tests.factories import REDIRECT_URI, TestClient, TestUser
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.dpop import DpopKey
from tests.support.flows import AuthorizationRequest
from tests.support.pages import assert_client_code

PAR_URL = f"{ISSUER}/oauth/par"
TOKEN_URL = f"{ISSUER}/oauth/token"


async def push_with_proof(
    auth: httpx.AsyncClient, request: AuthorizationRequest, proof: str, **extra: str
) -> httpx.Response:
    form = {**request.params(), **extra}
    return await auth.post("/oauth/par", data=form, headers={"DPoP": proof})


async def redeem(
    auth: httpx.AsyncClient, client: TestClient, request: AuthorizationRequest, code: str,
    proof: str | None,
) -> httpx.Response:  # fmt: skip
    data = {
        "grant_type": "authorization_code", "code": code, "client_id": client.client_id,
        "redirect_uri": request.redirect_uri, "code_verifier": request.verifier,
    }  # fmt: skip
    headers = {"DPoP": proof} if proof is not None else {}
    return await auth.post("/oauth/token", data=data, headers=headers)


async def test_par_dpop_proof_binds_the_code_to_its_key(
    db: Database,
    auth_client: httpx.AsyncClient,
    public_client: TestClient,
    user: TestUser,
    clock: TestClock,
) -> None:
    key = DpopKey("ES256")
    request = AuthorizationRequest(public_client)
    pushed = await push_with_proof(auth_client, request, key.proof("POST", PAR_URL, now=clock()))
    assert pushed.status_code == 201, pushed.text
    (row,) = await db.all(PushedAuthorizationRequest)
    assert row.params["dpop_jkt"] == key.jkt

    response = await auth_client.get(
        authorize_url(public_client.client_id, pushed.json()["request_uri"])
    )
    code = assert_client_code(
        await sign_in_and_allow(auth_client, user, response), REDIRECT_URI, state=request.state
    )
    (stored,) = await db.all(AuthorizationCode)
    assert stored.dpop_jkt == key.jkt

    other = DpopKey("ES256").proof("POST", TOKEN_URL, now=clock())
    refused = await redeem(auth_client, public_client, request, code, other)
    assert_oauth_error(
        refused,
        "invalid_grant",
        description="the DPoP proof key is not the key the authorization code is bound to",
    )


async def test_par_dpop_proof_with_own_key_redeems_a_dpop_token(
    auth_client: httpx.AsyncClient, public_client: TestClient, user: TestUser, clock: TestClock
) -> None:
    key = DpopKey("EdDSA")
    request = AuthorizationRequest(public_client)
    pushed = await push_with_proof(auth_client, request, key.proof("POST", PAR_URL, now=clock()))
    response = await auth_client.get(
        authorize_url(public_client.client_id, pushed.json()["request_uri"])
    )
    code = assert_client_code(
        await sign_in_and_allow(auth_client, user, response), REDIRECT_URI, state=request.state
    )

    tokens = await redeem(
        auth_client, public_client, request, code, key.proof("POST", TOKEN_URL, now=clock())
    )

    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "DPoP"


async def test_par_dpop_jkt_for_another_key_than_the_proof_is_invalid_dpop_proof(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient, clock: TestClock
) -> None:
    key = DpopKey("ES256")
    request = AuthorizationRequest(public_client)

    response = await push_with_proof(
        auth_client, request, key.proof("POST", PAR_URL, now=clock()), dpop_jkt=DpopKey().jkt
    )

    assert_oauth_error(
        response,
        "invalid_dpop_proof",
        description="dpop_jkt does not match the key of the DPoP proof",
    )
    assert await db.count(PushedAuthorizationRequest) == 0


async def test_par_dpop_proof_for_another_url_is_invalid_dpop_proof(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient, clock: TestClock
) -> None:
    request = AuthorizationRequest(public_client)

    response = await push_with_proof(
        auth_client, request, DpopKey().proof("POST", TOKEN_URL, now=clock())
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"
    assert await db.count(PushedAuthorizationRequest) == 0
