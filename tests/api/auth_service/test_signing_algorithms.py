"""Signing algorithms (README "Signing algorithms"): a key per algorithm of AUTH_SIGNING_ALGS, and a
client's id_token_signed_response_alg (OIDC Registration §2) signing its ID and access tokens.

Every token is checked with `tests.support.independent_jws` (cryptography directly, from the
published JWK), not with shared/tokens.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from auth_service.config import AuthSettings
from auth_service.main import create_app
from shared.models import Client, SigningKey, UserSession
from shared.tokens import SIGNATURE_ALGORITHMS
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, TestUser, make_client
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.independent_jws import verify_independently
from tests.support.lifecycle import token_header
from tests.support.oidc import code_flow_tokens


@pytest.fixture
def default_alg() -> str:
    return "RS256"


@pytest.fixture
def held_algs() -> tuple[str, ...]:
    return SIGNATURE_ALGORITHMS


@pytest.fixture
def settings(settings: AuthSettings, default_alg: str, held_algs: tuple[str, ...]) -> AuthSettings:
    values = settings.model_dump()
    values.update(signing_alg=default_alg, signing_algs=held_algs)
    return AuthSettings(_env_file=None, **values)  # type: ignore[call-arg]


async def choose_alg(db: Database, client: TestClient, alg: str | None) -> None:
    """What registration or `clients update --id-token-alg` store (before the app reads it)."""

    async def store(repos: Any) -> None:
        row = await repos.clients.get_by_client_id(client.client_id)
        row.id_token_signed_response_alg = alg
        await repos.clients.save(row)

    await db.run(store)


async def published(auth: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await auth.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return {key["kid"]: key for key in response.json()["keys"]}


async def checked(auth: httpx.AsyncClient, token: str, *, alg: str, kid: str, typ: str) -> Any:
    """The claims of a token our issuer signed with `alg`'s key, verified independently."""
    assert token_header(token) == {"alg": alg, "kid": kid, "typ": typ}
    jwk = (await published(auth))[kid]
    assert jwk["alg"] == alg and jwk["use"] == "sig"
    return verify_independently(token, jwk)


# --- A client's choice signs its ID token and its access token -----------------------------------


@pytest.mark.parametrize("alg", SIGNATURE_ALGORITHMS)
async def test_code_flow_client_that_chose_alg_gets_id_and_access_token_signed_with_that_key(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    signing_keys: dict[str, SigningKey],
    alg: str,
) -> None:
    client = await make_client(db)
    await choose_alg(db, client, alg)

    _, tokens = await code_flow_tokens(auth_client, client, user)

    kid = signing_keys[alg].kid
    id_claims = await checked(auth_client, tokens["id_token"], alg=alg, kid=kid, typ="JWT")
    assert (id_claims["iss"], id_claims["aud"], id_claims["sub"]) == (
        ISSUER,
        client.client_id,
        user.id,
    )
    access = await checked(auth_client, tokens["access_token"], alg=alg, kid=kid, typ="at+jwt")
    assert (access["aud"], access["client_id"]) == (AUDIENCE, client.client_id)


@pytest.mark.parametrize("alg", ["PS256", "EdDSA"])
async def test_client_credentials_client_that_chose_alg_gets_access_token_signed_with_it(
    db: Database, auth_client: httpx.AsyncClient, signing_keys: dict[str, SigningKey], alg: str
) -> None:
    client = await make_client(db, grant_types=["client_credentials"], scope="read:notes")
    await choose_alg(db, client, alg)

    response = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read:notes"},
        auth=(client.client_id, client.secret or ""),
    )

    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    claims = await checked(auth_client, token, alg=alg, kid=signing_keys[alg].kid, typ="at+jwt")
    assert claims["sub"] == client.client_id


# --- Clients without a choice: AUTH_SIGNING_ALG ---------------------------------------------------


@pytest.mark.parametrize("default_alg", ["RS256", "ES256"])
async def test_code_flow_client_without_choice_gets_tokens_signed_with_the_server_default(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    signing_keys: dict[str, SigningKey],
    default_alg: str,
) -> None:
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user)

    kid = signing_keys[default_alg].kid
    await checked(auth_client, tokens["id_token"], alg=default_alg, kid=kid, typ="JWT")
    await checked(auth_client, tokens["access_token"], alg=default_alg, kid=kid, typ="at+jwt")
    row = await db.get(Client, confidential_client.client_id)
    assert row is not None and row.id_token_signed_response_alg is None


@pytest.mark.parametrize("held_algs", [("RS256", "ES256")])
async def test_client_whose_choice_is_no_longer_held_gets_the_server_default(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    signing_keys: dict[str, SigningKey],
) -> None:
    # Registered while EdDSA was held; AUTH_SIGNING_ALGS no longer lists it.
    client = await make_client(db)
    await choose_alg(db, client, "EdDSA")

    _, tokens = await code_flow_tokens(auth_client, client, user)

    kid = signing_keys["RS256"].kid
    await checked(auth_client, tokens["id_token"], alg="RS256", kid=kid, typ="JWT")
    await checked(auth_client, tokens["access_token"], alg="RS256", kid=kid, typ="at+jwt")


# --- What the server holds and publishes ----------------------------------------------------------


async def test_jwks_and_discovery_list_every_held_algorithm_once(
    auth_client: httpx.AsyncClient, signing_keys: dict[str, SigningKey]
) -> None:
    keys = await published(auth_client)
    configuration = (await auth_client.get("/.well-known/openid-configuration")).json()

    assert sorted(k["alg"] for k in keys.values()) == sorted(SIGNATURE_ALGORITHMS)
    assert set(keys) == {row.kid for row in signing_keys.values()}
    assert configuration["id_token_signing_alg_values_supported"] == list(SIGNATURE_ALGORITHMS)


@pytest.mark.parametrize(("held_algs", "default_alg"), [(("ES256", "EdDSA"), "EdDSA")])
async def test_jwks_and_discovery_list_only_the_held_algorithms(
    auth_client: httpx.AsyncClient, signing_keys: dict[str, SigningKey]
) -> None:
    keys = await published(auth_client)
    configuration = (await auth_client.get("/.well-known/openid-configuration")).json()

    assert sorted(k["alg"] for k in keys.values()) == ["ES256", "EdDSA"]
    assert configuration["id_token_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    assert set(signing_keys) == {"ES256", "EdDSA"}


async def test_first_start_without_keys_creates_one_key_per_held_algorithm(
    db: Database, settings: AuthSettings, clock: TestClock
) -> None:
    # No signing_keys fixture: the lifespan finds an empty table, as on a fresh install.
    app = create_app(settings, clock=clock)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as auth:
            keys = await published(auth)

    rows = await db.all(SigningKey)
    assert sorted(row.alg for row in rows) == sorted(SIGNATURE_ALGORITHMS)
    assert {row.kid for row in rows} == set(keys)
    by_alg = {k["alg"]: k for k in keys.values()}
    assert by_alg["RS256"]["kty"] == by_alg["PS256"]["kty"] == "RSA"
    assert by_alg["RS256"]["n"] != by_alg["PS256"]["n"]  # one key per algorithm, never shared
    assert (by_alg["ES256"]["kty"], by_alg["ES256"]["crv"]) == ("EC", "P-256")
    assert (by_alg["EdDSA"]["kty"], by_alg["EdDSA"]["crv"]) == ("OKP", "Ed25519")
    for row in rows:
        assert (settings.key_dir / f"{row.kid}.pem").stat().st_mode & 0o777 == 0o600


# --- Our own ID tokens come back as id_token_hint (RP-Initiated Logout §2) ------------------------


@pytest.mark.parametrize("alg", ["PS256", "EdDSA"])
async def test_end_session_accepts_the_hint_of_a_client_that_chose_alg(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, alg: str
) -> None:
    post_logout = "https://client.example/signed-out"
    client = await make_client(db, post_logout_redirect_uris=[post_logout])
    await choose_alg(db, client, alg)
    _, tokens = await code_flow_tokens(auth_client, client, user)
    assert token_header(tokens["id_token"])["alg"] == alg

    response = await auth_client.get(
        "/oauth/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": post_logout},
    )

    assert response.status_code in (302, 303), response.text
    assert response.headers["location"] == post_logout
    assert await db.count(UserSession) == 0
