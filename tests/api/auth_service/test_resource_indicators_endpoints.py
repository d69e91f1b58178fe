"""/oauth/introspect (RFC 7662) and /oauth/revoke (RFC 7009) for access tokens issued for a
registered resource server other than the default audience (RFC 8707), and the strict check
that keeps tokens for any other audience unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from resource_service.config import ResourceSettings
from shared.models import RevocationEvent, SigningKey
from shared.revocations import RESOURCE_SERVER_CHANGED
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, make_client, make_resource_server
from tests.support.db import Database
from tests.support.forge import Forger, unverified_claims
from tests.support.lifecycle import bearer, challenge_params, introspect, revoke, verified_claims

NOTES = "https://notes.example/api"
DENY_MARGIN = 360  # auth_service.oauth.revocation.DENY_MARGIN


@pytest.fixture
def resource_settings(resource_settings: ResourceSettings) -> ResourceSettings:
    # The resource service of these tests is the notes API, not the default audience.
    return resource_settings.model_copy(update={"audience": NOTES})


@pytest.fixture
async def notes_client(db: Database) -> TestClient:
    await make_resource_server(db, NOTES, scopes=("read:notes", "write:notes"))
    return await make_client(
        db, grant_types=["client_credentials"], scope="read:notes write:notes", resources=[NOTES]
    )


@pytest.fixture
async def introspector(db: Database) -> TestClient:
    return await make_client(db, grant_types=["client_credentials"], can_introspect=True)


@pytest.fixture
def forger(settings: AuthSettings, signing_key: SigningKey) -> Forger:
    return Forger.from_key_dir(settings.key_dir, signing_key.kid)


def for_unknown_audience(forger: Forger, token: str) -> str:
    """The same claims, signed with our own key: only the audience makes it not one of ours."""
    return forger.sign({**unverified_claims(token), "aud": "https://unknown.example"})


async def notes_token(auth: httpx.AsyncClient, client: TestClient) -> str:
    response = await auth.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "resource": NOTES},
        auth=client.basic_auth(),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_introspect_token_for_a_registered_resource_is_active_with_its_claims(
    auth_client: httpx.AsyncClient, notes_client: TestClient, introspector: TestClient
) -> None:
    token = await notes_token(auth_client, notes_client)
    claims = await verified_claims(auth_client, token)

    response = await introspect(auth_client, introspector, token)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert (body["aud"], body["scope"], body["client_id"]) == (
        NOTES,
        "read:notes write:notes",
        notes_client.client_id,
    )
    assert (body["jti"], body["sub"], body["iss"]) == (claims["jti"], claims["sub"], ISSUER)


async def test_introspect_token_for_an_unregistered_audience_stays_inactive(
    auth_client: httpx.AsyncClient,
    notes_client: TestClient,
    introspector: TestClient,
    forger: Forger,
) -> None:
    token = for_unknown_audience(forger, await notes_token(auth_client, notes_client))

    response = await introspect(auth_client, introspector, token)

    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}


async def test_revoke_token_for_a_registered_resource_publishes_it_and_the_resource_refuses(
    db: Database,
    auth_client: httpx.AsyncClient,
    resource_app: FastAPI,
    resource_client: httpx.AsyncClient,
    notes_client: TestClient,
) -> None:
    token = await notes_token(auth_client, notes_client)
    claims = await verified_claims(auth_client, token)
    # Before: the notes API accepts the token (403: a client acting for itself has no notes).
    before = await resource_client.get("/api/v1/notes", headers=bearer(token))
    assert before.status_code == 403, before.text

    response = await revoke(auth_client, notes_client, token)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    (event,) = await db.all(RevocationEvent, RevocationEvent.kind == "token")
    assert (event.kind, event.value) == ("token", claims["jti"])
    exp = datetime.fromtimestamp(claims["exp"], UTC)
    assert event.expires_at == exp + timedelta(seconds=DENY_MARGIN)
    assert await resource_app.state.revocation_feed.poll() is True
    after = await resource_client.get("/api/v1/notes", headers=bearer(token))
    assert after.status_code == 401
    params = challenge_params(after.headers["www-authenticate"])
    assert (params["error"], params["error_description"]) == (
        "invalid_token",
        "the access token was revoked",
    )


async def test_revoke_token_for_an_unregistered_audience_publishes_nothing(
    db: Database, auth_client: httpx.AsyncClient, notes_client: TestClient, forger: Forger
) -> None:
    token = for_unknown_audience(forger, await notes_token(auth_client, notes_client))

    response = await revoke(auth_client, notes_client, token)

    assert response.status_code == 200, response.text
    # Only the registration's change notice: no revocation.
    assert [e.kind for e in await db.all(RevocationEvent)] == [RESOURCE_SERVER_CHANGED]


async def test_introspect_token_for_the_default_audience_stays_active(
    auth_client: httpx.AsyncClient, introspector: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=introspector.basic_auth()
    )
    assert response.status_code == 200, response.text

    body = (await introspect(auth_client, introspector, response.json()["access_token"])).json()

    assert (body["active"], body["aud"]) == (True, AUDIENCE)
