"""DPoP at the token endpoint (RFC 9449 §5, §8, §10, §11.1): bound tokens for each grant, the
code's `dpop_jkt`, public clients' bound refresh tokens, required proofs, nonces and replay.
Every refusal is checked for its status, error, headers, and that the database did not change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.main import create_app
from shared.models import AuthorizationCode, Grant, RefreshToken, SigningKey, UsedJti
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser, make_client
from tests.support.assertions import assert_oauth_error, assert_redirect_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.dpop import DpopKey
from tests.support.flows import AuthorizationRequest, authorize, get_code
from tests.support.lifecycle import snapshot, verified_claims
from tests.support.services import require_redis

TOKEN_URL = f"{ISSUER}/oauth/token"


@pytest.fixture
def key() -> DpopKey:
    return DpopKey("ES256")


async def post_token(
    auth: httpx.AsyncClient,
    client: TestClient,
    data: dict[str, str],
    proof: str | list[str] | None = None,
) -> httpx.Response:
    headers: list[tuple[str, str]] = []
    for value in [proof] if isinstance(proof, str) else proof or []:
        headers.append(("DPoP", value))
    if client.secret is None:
        return await auth.post(
            "/oauth/token", data={**data, "client_id": client.client_id}, headers=headers
        )
    return await auth.post("/oauth/token", data=data, headers=headers, auth=client.basic_auth())


def code_data(request: AuthorizationRequest, code: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.verifier,
    }


async def quiet_snapshot(app: FastAPI, db: Database) -> dict[str, Any]:
    await app.state.audit_buffer.flush()
    return await snapshot(db)


async def dpop_tokens(
    auth: httpx.AsyncClient,
    client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
    **extra: str,
) -> dict[str, Any]:
    request = AuthorizationRequest(client, scope="openid profile offline_access", extra=dict(extra))
    code = await get_code(auth, request, user)
    response = await post_token(
        auth, client, code_data(request, code), key.proof("POST", TOKEN_URL, now=clock())
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- authorization_code ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "PS256", "EdDSA"])
async def test_token_dpop_code_with_proof_returns_dpop_token_bound_to_the_key(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
    alg: str,
) -> None:
    key = DpopKey(alg)
    body = await dpop_tokens(auth_client, confidential_client, user, key, clock)

    assert body["token_type"] == "DPoP"  # RFC 9449 §5
    claims = await verified_claims(auth_client, body["access_token"])
    assert claims["cnf"] == {"jkt": key.jkt}  # RFC 9449 §6.1


async def test_token_dpop_code_without_proof_stays_bearer(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client)
    code = await get_code(auth_client, request, user)

    response = await post_token(auth_client, confidential_client, code_data(request, code))

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in await verified_claims(auth_client, response.json()["access_token"])
    assert "dpop-nonce" not in response.headers


@pytest.mark.parametrize(
    "case",
    ["wrong-typ", "private-key", "wrong-htu", "wrong-htm", "old-iat", "bad-signature", "two"],
)
async def test_token_dpop_bad_proof_returns_invalid_dpop_proof_and_keeps_the_code(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
    case: str,
) -> None:
    request = AuthorizationRequest(confidential_client)
    code = await get_code(auth_client, request, user)
    now = clock()
    proof: str | list[str] = {
        "wrong-typ": lambda: key.proof("POST", TOKEN_URL, now=now, header={"typ": "jwt"}),
        "private-key": lambda: key.proof(
            "POST", TOKEN_URL, now=now, header={"jwk": key.key.as_dict(private=True)}
        ),
        "wrong-htu": lambda: key.proof("POST", f"{ISSUER}/oauth/par", now=now),
        "wrong-htm": lambda: key.proof("GET", TOKEN_URL, now=now),
        "old-iat": lambda: key.proof(
            "POST", TOKEN_URL, now=now, claims={"iat": int(now.timestamp()) - 300}
        ),
        "bad-signature": lambda: DpopKey().proof(
            "POST", TOKEN_URL, now=now, header={"jwk": key.jwk}
        ),
        "two": lambda: [key.proof("POST", TOKEN_URL, now=now)] * 2,
    }[case]()
    before = await quiet_snapshot(auth_app, db)

    response = await post_token(auth_client, confidential_client, code_data(request, code), proof)

    assert_oauth_error(response, "invalid_dpop_proof", status=400)
    assert "www-authenticate" not in response.headers
    assert await quiet_snapshot(auth_app, db) == before  # the code is still unused, no jti kept
    retry = await post_token(
        auth_client,
        confidential_client,
        code_data(request, code),
        key.proof("POST", TOKEN_URL, now=now),
    )
    assert retry.status_code == 200, retry.text


async def test_token_dpop_replayed_proof_returns_invalid_dpop_proof(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
) -> None:
    proof = key.proof("POST", TOKEN_URL, now=clock())
    first = AuthorizationRequest(confidential_client)
    first_code = await get_code(auth_client, first, user)
    assert (
        await post_token(auth_client, confidential_client, code_data(first, first_code), proof)
    ).status_code == 200
    assert await db.count(UsedJti) == 1  # RFC 9449 §11.1: kept in the database without Redis
    second = AuthorizationRequest(confidential_client)
    second_code = await get_code(auth_client, second, user)
    before = await quiet_snapshot(auth_app, db)

    response = await post_token(
        auth_client, confidential_client, code_data(second, second_code), proof
    )

    assert_oauth_error(
        response, "invalid_dpop_proof", description="the DPoP proof was already used"
    )
    assert await quiet_snapshot(auth_app, db) == before


# --- dpop_jkt at the authorization endpoint (RFC 9449 §10) ----------------------------------------


async def test_token_dpop_code_bound_with_dpop_jkt_needs_a_proof_of_that_key(
    auth_client: httpx.AsyncClient,
    db: Database,
    public_client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
) -> None:
    request = AuthorizationRequest(public_client, extra={"dpop_jkt": key.jkt})
    code = await get_code(auth_client, request, user)
    (stored,) = await db.all(
        AuthorizationCode, AuthorizationCode.client_id == public_client.client_id
    )
    assert stored.dpop_jkt == key.jkt

    response = await post_token(
        auth_client,
        public_client,
        code_data(request, code),
        key.proof("POST", TOKEN_URL, now=clock()),
    )

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("proof_key", ["other", "none"])
async def test_token_dpop_code_bound_with_dpop_jkt_refuses_another_key_or_none(
    auth_client: httpx.AsyncClient,
    db: Database,
    public_client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
    proof_key: str,
) -> None:
    request = AuthorizationRequest(public_client, extra={"dpop_jkt": key.jkt})
    code = await get_code(auth_client, request, user)
    proof = DpopKey().proof("POST", TOKEN_URL, now=clock()) if proof_key == "other" else None

    response = await post_token(auth_client, public_client, code_data(request, code), proof)

    description = {
        "other": "the DPoP proof key is not the key the authorization code is bound to",
        "none": "the authorization code is bound to a DPoP key: send a DPoP proof",
    }[proof_key]
    assert_oauth_error(response, "invalid_grant", description=description)
    # Like a failed PKCE verifier (RFC 9700 §4.8), the code is used up; nothing was issued.
    assert await db.count(RefreshToken) == 0
    (stored,) = await db.all(
        AuthorizationCode, AuthorizationCode.client_id == public_client.client_id
    )
    assert stored.used_at is not None


async def test_authorize_dpop_jkt_that_is_not_a_thumbprint_redirects_invalid_request(
    auth_client: httpx.AsyncClient, db: Database, public_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(public_client, extra={"dpop_jkt": "not-a-thumbprint"})

    response = await authorize(auth_client, request, user)

    assert_redirect_error(response, request.redirect_uri, "invalid_request", state=request.state)
    assert await db.count(AuthorizationCode) == 0


# --- refresh_token: bound for public clients only (RFC 9449 §5) -----------------------------------


async def test_token_dpop_public_client_refresh_token_is_bound_to_the_key(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    public_client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
) -> None:
    tokens = await dpop_tokens(auth_client, public_client, user, key, clock)
    (grant,) = await db.all(Grant, Grant.client_id == public_client.client_id)
    assert grant.dpop_jkt == key.jkt
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    before = await quiet_snapshot(auth_app, db)

    for proof, description in (
        (None, "the refresh token is bound to a DPoP key: send a DPoP proof"),
        (
            DpopKey().proof("POST", TOKEN_URL, now=clock()),
            "the DPoP proof key is not the key the refresh token is bound to",
        ),
    ):
        spent = len(before["used_jti"])
        response = await post_token(auth_client, public_client, data, proof)
        assert_oauth_error(response, "invalid_grant", description=description)
        after = await quiet_snapshot(auth_app, db)
        # A proof seen is spent even when its request is refused (security.replay), as in
        # Redis; nothing else changed.
        assert len(after.pop("used_jti")) == spent + (proof is not None)
        assert after == {k: v for k, v in before.items() if k != "used_jti"}

    response = await post_token(
        auth_client, public_client, data, key.proof("POST", TOKEN_URL, now=clock())
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert claims["cnf"] == {"jkt": key.jkt}


async def test_token_dpop_public_client_bearer_family_is_bound_at_its_first_dpop_refresh(
    auth_client: httpx.AsyncClient,
    db: Database,
    public_client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
) -> None:
    request = AuthorizationRequest(public_client, scope="openid offline_access")
    code = await get_code(auth_client, request, user)
    tokens = (await post_token(auth_client, public_client, code_data(request, code))).json()
    assert tokens["token_type"] == "Bearer"
    (grant,) = await db.all(Grant, Grant.client_id == public_client.client_id)
    assert grant.dpop_jkt is None

    first = await post_token(
        auth_client,
        public_client,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        key.proof("POST", TOKEN_URL, now=clock()),
    )

    assert first.status_code == 200, first.text
    assert (await db.get(Grant, grant.id)).dpop_jkt == key.jkt  # type: ignore[union-attr]
    later = await post_token(
        auth_client,
        public_client,
        {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
    )
    assert_oauth_error(later, "invalid_grant")


async def test_token_dpop_confidential_client_refresh_token_is_not_bound(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
) -> None:
    tokens = await dpop_tokens(auth_client, confidential_client, user, key, clock)
    (grant,) = await db.all(Grant, Grant.client_id == confidential_client.client_id)
    assert grant.dpop_jkt is None
    other = DpopKey()

    response = await post_token(
        auth_client,
        confidential_client,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        other.proof("POST", TOKEN_URL, now=clock()),
    )

    assert response.status_code == 200, response.text
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert claims["cnf"] == {"jkt": other.jkt}


# --- client_credentials and clients that must use DPoP (RFC 9449 §5.2) -----------------------------


async def test_token_dpop_client_credentials_with_proof_returns_dpop_token(
    auth_client: httpx.AsyncClient, db: Database, key: DpopKey, clock: TestClock
) -> None:
    service = await make_client(db, grant_types=["client_credentials"], scope="read:notes")

    response = await post_token(
        auth_client,
        service,
        {"grant_type": "client_credentials", "scope": "read:notes"},
        key.proof("POST", TOKEN_URL, now=clock()),
    )

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert claims["cnf"] == {"jkt": key.jkt}


async def test_token_dpop_bound_client_without_proof_returns_invalid_dpop_proof(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, key: DpopKey, clock: TestClock
) -> None:
    service = await make_client(
        db, grant_types=["client_credentials"], scope="read:notes", dpop_bound_access_tokens=True
    )
    data = {"grant_type": "client_credentials", "scope": "read:notes"}
    before = await quiet_snapshot(auth_app, db)

    response = await post_token(auth_client, service, data)

    assert_oauth_error(
        response,
        "invalid_dpop_proof",
        description="this client must send a DPoP proof (RFC 9449 section 5.2)",
    )
    assert await quiet_snapshot(auth_app, db) == before
    ok = await post_token(auth_client, service, data, key.proof("POST", TOKEN_URL, now=clock()))
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "DPoP"


# --- server nonces (RFC 9449 §8) -------------------------------------------------------------------


@pytest.fixture
async def nonce_app(
    settings: AuthSettings, db: Database, signing_key: SigningKey, clock: TestClock
) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"dpop_nonce_required": True}), clock=clock)
    async with LifespanManager(app):
        yield app


async def test_token_dpop_nonce_required_asks_for_one_then_accepts_it(
    nonce_app: FastAPI, db: Database, key: DpopKey, clock: TestClock
) -> None:
    service = await make_client(db, grant_types=["client_credentials"], scope="read:notes")
    data = {"grant_type": "client_credentials", "scope": "read:notes"}
    transport = httpx.ASGITransport(app=nonce_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as auth:
        before = await quiet_snapshot(nonce_app, db)
        first = await post_token(auth, service, data, key.proof("POST", TOKEN_URL, now=clock()))

        assert_oauth_error(first, "use_dpop_nonce", status=400)
        nonce = first.headers["dpop-nonce"]
        assert await quiet_snapshot(nonce_app, db) == before
        wrong = await post_token(
            auth, service, data, key.proof("POST", TOKEN_URL, now=clock(), nonce="x" + nonce)
        )
        assert_oauth_error(wrong, "use_dpop_nonce", status=400)

        second = await post_token(
            auth, service, data, key.proof("POST", TOKEN_URL, now=clock(), nonce=nonce)
        )

    assert second.status_code == 200, second.text
    assert second.json()["token_type"] == "DPoP"
    assert second.headers["dpop-nonce"]  # RFC 9449 §8.2: the next one to use


# --- replay across instances (RFC 9449 §11.1) ------------------------------------------------------


async def _second_instance_refuses_replay(
    settings: AuthSettings, db: Database, clock: TestClock, key: DpopKey, first_app: FastAPI
) -> None:
    service = await make_client(db, grant_types=["client_credentials"], scope="read:notes")
    data = {"grant_type": "client_credentials", "scope": "read:notes"}
    proof = key.proof("POST", TOKEN_URL, now=clock())
    other = create_app(settings, clock=clock)
    async with LifespanManager(other):
        apps = (first_app, other)
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER)
            for app in apps
        ]
        try:
            ok = await post_token(clients[0], service, data, proof)
            replay = await post_token(clients[1], service, data, proof)
        finally:
            for client in clients:
                await client.aclose()
    assert ok.status_code == 200, ok.text
    assert_oauth_error(replay, "invalid_dpop_proof", description="the DPoP proof was already used")


async def test_token_dpop_replay_at_another_instance_sharing_the_database_is_refused(
    auth_app: FastAPI, settings: AuthSettings, db: Database, clock: TestClock, key: DpopKey
) -> None:
    await _second_instance_refuses_replay(settings, db, clock, key, auth_app)
    assert await db.count(UsedJti) == 1


async def test_token_dpop_replay_at_another_instance_sharing_redis_is_refused(
    settings: AuthSettings, db: Database, signing_key: SigningKey, clock: TestClock, key: DpopKey
) -> None:
    redis_settings = settings.model_copy(update={"redis_url": require_redis()})
    first = create_app(redis_settings, clock=clock)
    async with LifespanManager(first):
        await _second_instance_refuses_replay(redis_settings, db, clock, key, first)
    assert await db.count(UsedJti) == 0  # kept in Redis, not in the database


async def test_token_dpop_password_grant_public_client_binds_its_refresh_tokens(
    auth_client: httpx.AsyncClient, db: Database, user: TestUser, key: DpopKey, clock: TestClock
) -> None:
    app = await make_client(
        db,
        is_public=True,
        is_first_party=True,
        grant_types=["password", "refresh_token"],
        redirect_uris=[],
    )
    data = {"grant_type": "password", "username": user.username, "password": user.password}

    response = await post_token(auth_client, app, data, key.proof("POST", TOKEN_URL, now=clock()))

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    (grant,) = await db.all(Grant, Grant.client_id == app.client_id)
    assert grant.dpop_jkt == key.jkt
    refused = await post_token(
        auth_client,
        app,
        {"grant_type": "refresh_token", "refresh_token": response.json()["refresh_token"]},
    )
    assert_oauth_error(refused, "invalid_grant")
