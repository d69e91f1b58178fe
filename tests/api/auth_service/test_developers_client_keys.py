"""/developers: apps that authenticate with their own keys (private_key_jwt, RFC 7523 §2.2),
registered with a JWKS URL or pasted public keys."""

from __future__ import annotations

import json

import httpx
import pytest

from shared.models import AuditEvent, Client
from tests.factories import TestUser, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.assertions_jwt import (
    ClientKey,
    assertion_claims,
    assertion_form,
    jwks_of,
    new_client_key,
    sign_assertion,
)
from tests.support.db import Database
from tests.support.pages import sign_in
from tests.support.portal import credentials_from, page_error, register_app, submit


@pytest.fixture
async def portal(auth_client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    developer: TestUser = await make_user(db, username="keydev")
    await sign_in(auth_client, developer)
    return auth_client


@pytest.fixture(scope="module")
def key() -> ClientKey:
    return new_client_key("ES256")


async def assertion_works(auth: httpx.AsyncClient, client_id: str, key: ClientKey) -> int:
    """The status of a token request authenticated by `key` (the grant itself is not valid:
    client authentication comes first, so 400 invalid_grant means the client was accepted)."""
    assertion = sign_assertion(key, assertion_claims(client_id))
    data = {"grant_type": "authorization_code", "code": "nope", "redirect_uri": "x"}
    response = await auth.post("/oauth/token", data={**data, **assertion_form(assertion)})
    return response.status_code


async def test_portal_registers_an_app_with_pasted_keys_and_shows_no_secret(
    db: Database, portal: httpx.AsyncClient, key: ClientKey
) -> None:
    page = await register_app(portal, client_type="keys", jwks=json.dumps(jwks_of(key)))

    client_id, secret = credentials_from(page)
    assert secret is None
    assert "private_key_jwt" in page.text
    row = await db.get(Client, client_id)
    assert row is not None
    assert (row.token_endpoint_auth_method, row.jwks, row.client_secret_hash) == (
        "private_key_jwt",
        jwks_of(key),
        None,
    )
    assert await assertion_works(portal, client_id, key) == 400
    settings = await portal.get(f"/developers/apps/{client_id}")
    assert key.kid in settings.text and "rotate-secret" not in settings.text


async def test_portal_app_with_a_jwks_url_can_switch_to_pasted_keys(
    db: Database, portal: httpx.AsyncClient, key: ClientKey
) -> None:
    page = await register_app(portal, client_type="keys", jwks_uri="https://printer.example/jwks")
    client_id, _ = credentials_from(page)
    path = f"/developers/apps/{client_id}"
    form = {
        "name": "Photo Printer",
        "redirect_uris": "https://printer.example/callback",
        "scope-openid": "on",
        "jwks": json.dumps(jwks_of(key)),
    }

    saved = await submit(portal, path, path, form)

    assert saved.status_code == 303, saved.text
    row = await db.get(Client, client_id)
    assert row is not None and (row.jwks, row.jwks_uri) == (jwks_of(key), None)
    assert await assertion_works(portal, client_id, key) == 400


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "private_key_jwt needs jwks or jwks_uri"),
        ({"jwks": "{not json"}, "the pasted keys are not JSON"),
        ({"jwks_uri": "http://printer.example/jwks"}, "jwks_uri must use https"),
        ({"jwks": "private"}, "keys must be public: no private or symmetric key members"),
    ],
)
async def test_portal_app_with_bad_keys_shows_the_error_and_stores_nothing(
    db: Database, portal: httpx.AsyncClient, key: ClientKey, fields: dict[str, str], error: str
) -> None:
    if fields.get("jwks") == "private":
        private = {**key.key.as_dict(private=True), "kid": key.kid}
        fields = {"jwks": json.dumps({"keys": [private]})}

    page = await register_app(portal, client_type="keys", **fields)

    assert page.status_code == 400, page.text
    assert page_error(page) == error
    assert await db.count(Client) == 0
    assert await db.count(AuditEvent, AuditEvent.event == "client_registered") == 0


async def test_portal_private_key_jwt_app_has_no_secret_to_rotate(
    portal: httpx.AsyncClient, key: ClientKey
) -> None:
    page = await register_app(portal, client_type="keys", jwks=json.dumps(jwks_of(key)))
    client_id, _ = credentials_from(page)
    path = f"/developers/apps/{client_id}"

    response = await submit(portal, path, path + "/rotate-secret", {})

    assert response.status_code == 404
    assert_oauth_error(
        await portal.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, "x" * 43)
        ),
        "invalid_client",
        status=401,
    )


async def test_portal_fapi2_checkbox_holds_a_keyed_app_to_the_profile_and_can_be_unset(
    db: Database, portal: httpx.AsyncClient, key: ClientKey
) -> None:
    page = await register_app(portal, client_type="keys", jwks=json.dumps(jwks_of(key)), fapi2="on")

    client_id, _ = credentials_from(page)
    row = await db.get(Client, client_id)
    assert row is not None
    assert row.profile == "fapi2"
    # README "The FAPI 2.0 profile": PAR and DPoP forced on though the PAR box was not ticked.
    assert row.require_pushed_authorization_requests and row.dpop_bound_access_tokens
    settings = await portal.get(f"/developers/apps/{client_id}")
    assert 'id="fapi2" name="fapi2" type="checkbox" aria-describedby="fapi2-help" checked' in (
        settings.text
    )
    await submit(
        portal, f"/developers/apps/{client_id}", f"/developers/apps/{client_id}",
        {"name": row.name, "redirect_uris": "\n".join(row.redirect_uris), "scope-openid": "on",
         "jwks": json.dumps(jwks_of(key))},
    )  # fmt: skip
    row = await db.get(Client, client_id)
    assert row is not None
    assert row.profile is None


async def test_portal_fapi2_for_an_app_with_a_secret_shows_the_error_and_stores_nothing(
    db: Database, portal: httpx.AsyncClient
) -> None:
    page = await register_app(portal, client_type="confidential", fapi2="on")

    assert page.status_code == 400
    assert "private_key_jwt" in page_error(page)
    assert await db.all(Client) == []
