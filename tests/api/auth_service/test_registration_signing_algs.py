"""id_token_signed_response_alg in dynamic registration (OIDC Registration §2, RFC 7591 §2, §3.2,
RFC 7592 §2.2): any algorithm we hold a key for, echoed as registered; never none or HS*."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.models import AuditEvent, Client
from shared.tokens import SIGNATURE_ALGORITHMS
from tests.conftest import ISSUER
from tests.support.assertions import assert_oauth_error
from tests.support.db import Database
from tests.support.lifecycle import bearer

INITIAL_TOKEN = "initial-access-token-for-tests-0123456789"  # noqa: S105 - test credential
METADATA: dict[str, Any] = {
    "client_name": "Signing App",
    "redirect_uris": ["https://signing.example/callback"],
    "grant_types": ["authorization_code"],
    "token_endpoint_auth_method": "client_secret_basic",
    "scope": "openid",
}
ALL_CHOICES = "id_token_signed_response_alg must be one of RS256, PS256, ES256, EdDSA"
REFUSED = ["none", "HS256", "HS512", "RS512", "ES384", "rs256", "", 256, ["ES256"], {"alg": "x"}]


@pytest.fixture
def held_algs() -> tuple[str, ...]:
    return SIGNATURE_ALGORITHMS


@pytest.fixture
def settings(settings: AuthSettings, held_algs: tuple[str, ...]) -> AuthSettings:
    values = settings.model_dump()
    values.update(registration_initial_access_token=INITIAL_TOKEN, signing_algs=held_algs)
    return AuthSettings(_env_file=None, **values)  # type: ignore[call-arg]


async def register(auth: httpx.AsyncClient, **changes: Any) -> httpx.Response:
    return await auth.post(
        "/oauth/register", json={**METADATA, **changes}, headers=bearer(INITIAL_TOKEN)
    )


def management_path(body: dict[str, Any]) -> str:
    return str(body["registration_client_uri"])[len(ISSUER) :]


async def stored_alg(db: Database, client_id: str) -> str | None:
    row = await db.get(Client, client_id)
    assert row is not None
    return row.id_token_signed_response_alg


@pytest.mark.parametrize("alg", SIGNATURE_ALGORITHMS)
async def test_register_each_held_alg_is_stored_and_echoed_on_register_and_read(
    db: Database, auth_client: httpx.AsyncClient, alg: str
) -> None:
    response = await register(auth_client, id_token_signed_response_alg=alg)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id_token_signed_response_alg"] == alg
    assert await stored_alg(db, body["client_id"]) == alg
    read = await auth_client.get(
        management_path(body), headers=bearer(body["registration_access_token"])
    )
    assert read.status_code == 200
    assert read.json()["id_token_signed_response_alg"] == alg


async def test_register_without_alg_stores_none_and_echoes_the_server_default(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await register(auth_client)

    assert response.status_code == 201, response.text
    assert response.json()["id_token_signed_response_alg"] == "RS256"  # AUTH_SIGNING_ALG
    assert await stored_alg(db, response.json()["client_id"]) is None


@pytest.mark.parametrize("alg", REFUSED)
async def test_register_alg_we_hold_no_key_for_is_invalid_client_metadata(
    db: Database, auth_client: httpx.AsyncClient, alg: Any
) -> None:
    response = await register(auth_client, id_token_signed_response_alg=alg)

    assert_oauth_error(response, "invalid_client_metadata", description=ALL_CHOICES)
    assert response.headers["cache-control"] == "no-store"
    assert await db.count(Client) == 0
    assert await db.count(AuditEvent, AuditEvent.event == "client_registered") == 0


@pytest.mark.parametrize("held_algs", [("RS256", "ES256")])
async def test_register_alg_not_in_auth_signing_algs_is_refused(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    for alg in ("PS256", "EdDSA"):
        response = await register(auth_client, id_token_signed_response_alg=alg)

        assert_oauth_error(
            response,
            "invalid_client_metadata",
            description="id_token_signed_response_alg must be one of RS256, ES256",
        )
    assert await db.count(Client) == 0
    assert (await register(auth_client, id_token_signed_response_alg="ES256")).status_code == 201


async def test_update_changes_alg_and_omitting_it_returns_to_the_server_default(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = (await register(auth_client, id_token_signed_response_alg="PS256")).json()
    path, auth = management_path(body), bearer(body["registration_access_token"])
    replacement = {**METADATA, "client_id": body["client_id"]}

    changed = await auth_client.put(
        path, json={**replacement, "id_token_signed_response_alg": "EdDSA"}, headers=auth
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["id_token_signed_response_alg"] == "EdDSA"
    assert await stored_alg(db, body["client_id"]) == "EdDSA"

    # RFC 7592 §2.2: an omitted field is no longer registered, so the default applies again.
    reset = await auth_client.put(path, json=replacement, headers=auth)
    assert reset.status_code == 200, reset.text
    assert reset.json()["id_token_signed_response_alg"] == "RS256"
    assert await stored_alg(db, body["client_id"]) is None


@pytest.mark.parametrize("alg", ["none", "HS256", "RS384"])
async def test_update_with_refused_alg_changes_nothing(
    db: Database, auth_client: httpx.AsyncClient, alg: str
) -> None:
    body = (await register(auth_client, id_token_signed_response_alg="ES256")).json()
    before = await db.get(Client, body["client_id"])

    response = await auth_client.put(
        management_path(body),
        json={
            **METADATA,
            "client_id": body["client_id"],
            "client_name": "Renamed",
            "id_token_signed_response_alg": alg,
        },
        headers=bearer(body["registration_access_token"]),
    )

    assert_oauth_error(response, "invalid_client_metadata", description=ALL_CHOICES)
    after = await db.get(Client, body["client_id"])
    assert after == before and after is not None
    assert (after.name, after.id_token_signed_response_alg) == ("Signing App", "ES256")
