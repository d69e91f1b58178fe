"""/developers: people register and manage their own apps (issue 5, "Developer portal";
redirect URI rules of RFC 6749 §3.1.2, RFC 8252 §7 and RFC 9700 §4.1)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from auth_service.clients.registry import ClientChanges, update_client
from auth_service.repositories import Repositories
from shared.models import (
    AuthorizationCode,
    Client,
    Consent,
    Grant,
    RefreshToken,
    RevocationEvent,
)
from tests.factories import TestClient, TestUser, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, tokens_for
from tests.support.lifecycle import bearer, client_credentials
from tests.support.pages import sha256_hex, sign_in
from tests.support.portal import (
    FORM_EXPIRED,
    app_form,
    as_test_client,
    audit_events,
    credentials_from,
    database_text,
    page_error,
    register_app,
    signed_in,
    submit,
)

REVOKED = "the access token was revoked"


@pytest.fixture
async def developer(db: Database) -> TestUser:
    return await make_user(db, username="dev")


@pytest.fixture
async def portal(auth_client: httpx.AsyncClient, developer: TestUser) -> httpx.AsyncClient:
    """The developer's browser, signed in."""
    await sign_in(auth_client, developer)
    return auth_client


async def registered(db: Database, portal: httpx.AsyncClient, **fields: str | None) -> TestClient:
    client_id, secret = credentials_from(await register_app(portal, **fields))
    return await as_test_client(db, client_id, secret)


async def client_row(db: Database, client_id: str) -> Client:
    row = await db.get(Client, client_id)
    assert row is not None
    return row


async def settings_page(portal: httpx.AsyncClient, client_id: str) -> httpx.Response:
    page = await portal.get(f"/developers/apps/{client_id}")
    assert page.status_code == 200, page.text
    return page


async def post_app_action(
    portal: httpx.AsyncClient, client_id: str, action: str, data: dict[str, str] | None = None
) -> httpx.Response:
    """POST to /developers/apps/<id><action> with the CSRF token of the app's settings page."""
    path = f"/developers/apps/{client_id}"
    return await submit(portal, path, path + action, data or {})


# --- Signed-in users only ---


@pytest.mark.parametrize(
    ("path", "next_path"),
    [("/developers", "/developers"), ("/developers/apps/new", "/developers/apps/new")],
)
async def test_developers_pages_without_session_redirect_to_login(
    auth_client: httpx.AsyncClient, path: str, next_path: str
) -> None:
    response = await auth_client.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={next_path}"


async def test_developers_register_without_session_creates_nothing(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await auth_client.post("/developers/apps", data=app_form())

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/developers/apps/new"
    assert await db.count(Client) == 0


async def test_developers_new_app_form_has_every_field_and_csrf_token(
    portal: httpx.AsyncClient,
) -> None:
    page = await portal.get("/developers/apps/new")

    assert page.status_code == 200
    for name in ("name", "homepage_uri", "logo_uri"):
        assert f'<label for="{name}">' in page.text
        assert f'name="{name}"' in page.text
    assert '<textarea id="redirect_uris" name="redirect_uris"' in page.text
    assert '<textarea id="post_logout_redirect_uris" name="post_logout_redirect_uris"' in page.text
    for scope in ("openid", "profile", "email", "read:notes", "write:notes", "offline_access"):
        assert f'name="scope-{scope}" type="checkbox"' in page.text
    assert 'name="client_type" type="radio" value="confidential" checked' in page.text
    assert 'name="client_type" type="radio" value="public"' in page.text
    assert csrf_from(page.text)


# --- Registering ---


async def test_developers_register_confidential_app_shows_id_and_secret_once(
    db: Database, portal: httpx.AsyncClient, developer: TestUser
) -> None:
    response = await register_app(
        portal, redirect_uris="https://printer.example/callback\n\nhttps://printer.example/cb2\n"
    )

    client_id, secret = credentials_from(response)
    assert secret is not None and len(secret) >= 43  # 256 bits, base64url
    assert response.headers["cache-control"] == "no-store"
    row = await client_row(db, client_id)
    assert row.client_secret_hash == sha256_hex(secret)
    assert secret not in await database_text(db)
    assert row.owner_id == developer.id
    assert (row.name, row.homepage_uri, row.logo_uri) == (
        "Photo Printer",
        "https://printer.example",
        "https://printer.example/logo.png",
    )
    assert row.redirect_uris == [
        "https://printer.example/callback",
        "https://printer.example/cb2",
    ]
    assert row.post_logout_redirect_uris == ["https://printer.example/bye"]
    assert row.scope == "openid profile read:notes"
    assert row.grant_types == ["authorization_code", "refresh_token"]
    assert (row.is_public, row.require_pkce, row.is_first_party, row.can_introspect) == (
        False,
        True,
        False,
        False,
    )
    assert row.token_endpoint_auth_method == "client_secret_basic"
    # Never shown again: not on the app's page, not in the list.
    assert secret not in (await settings_page(portal, client_id)).text
    listing = await portal.get("/developers")
    assert f"<code>{client_id}</code>" in listing.text
    assert secret not in listing.text
    (event,) = await audit_events(db, "client_registered")
    assert (event.user_id, event.client_id) == (developer.id, client_id)
    assert secret not in str(event.details)


async def test_developers_registered_confidential_app_completes_code_flow_with_pkce(
    db: Database, portal: httpx.AsyncClient, developer: TestUser
) -> None:
    client = await registered(db, portal)

    tokens = await tokens_for(
        portal, AuthorizationRequest(client, scope="openid profile"), developer
    )

    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "openid profile"
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens)


async def test_developers_register_public_app_gets_no_secret_and_must_use_pkce(
    db: Database, portal: httpx.AsyncClient, developer: TestUser
) -> None:
    response = await register_app(portal, client_type="public")

    client_id, secret = credentials_from(response)
    assert secret is None
    assert "A public app has no secret" in response.text
    row = await client_row(db, client_id)
    assert (row.is_public, row.client_secret_hash, row.require_pkce) == (True, None, True)
    assert row.token_endpoint_auth_method == "none"
    client = TestClient(row, None)
    no_pkce = AuthorizationRequest(
        client, extra={"code_challenge": None, "code_challenge_method": None}
    )
    refused = await portal.get(no_pkce.url())
    # A self-registered app's error is not redirected on its own (RFC 9700 §4.11.2): the user
    # sees it and may follow a link back to the app, which carries the error.
    assert refused.status_code == 400 and "location" not in refused.headers
    assert "code_challenge is required (PKCE, RFC 7636)" in refused.text
    assert f'href="{client.redirect_uri}?error=invalid_request' in refused.text
    tokens = await tokens_for(portal, AuthorizationRequest(client), developer)
    assert "access_token" in tokens


# --- Validation ---


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("/callback", "redirect URI must be absolute (RFC 6749 section 3.1.2)"),
        (
            "https://printer.example/cb#done",
            "redirect URI must not contain a fragment (RFC 6749 section 3.1.2)",
        ),
        (
            "https://*.printer.example/cb",
            "redirect URI must not contain wildcards (RFC 9700 section 4.1.3)",
        ),
        (
            "http://printer.example/cb",
            "http redirect URIs are allowed only for localhost, 127.0.0.1 and [::1] "
            "(RFC 8252 section 7.3)",
        ),
        (
            "http://localhost.evil.example/cb",
            "http redirect URIs are allowed only for localhost, 127.0.0.1 and [::1] "
            "(RFC 8252 section 7.3)",
        ),
        ("javascript:alert(document.cookie)", "the javascript: scheme cannot be a redirect URI"),
        ("data:text/html,hi", "the data: scheme cannot be a redirect URI"),
        (
            "myapp:/cb",
            "a private-use URI scheme must be a reverse domain name such as com.example.app",
        ),
    ],
    ids=[
        "relative",
        "fragment",
        "wildcard",
        "http-non-loopback",
        "http-lookalike",
        "javascript",
        "data",
        "private-scheme-not-reverse-domain",
    ],
)
async def test_developers_register_bad_redirect_uri_is_rejected_with_reason(
    db: Database, portal: httpx.AsyncClient, uri: str, reason: str
) -> None:
    response = await register_app(portal, redirect_uris=f"https://printer.example/callback\n{uri}")

    assert response.status_code == 400
    assert page_error(response) == f"{uri}: {reason}"
    assert 'name="redirect_uris" rows="3" aria-describedby="redirect-help" aria-invalid="true"' in (
        response.text
    )
    assert await db.count(Client) == 0


async def test_developers_register_loopback_and_private_use_redirect_uris_are_accepted(
    db: Database, portal: httpx.AsyncClient
) -> None:
    uris = [
        "http://localhost:3000",
        "http://127.0.0.1",
        "http://[::1]:8080",
        "com.example.app:/cb",
    ]

    response = await register_app(portal, redirect_uris="\n".join(uris), client_type="public")

    client_id, _ = credentials_from(response)
    assert (await client_row(db, client_id)).redirect_uris == uris


async def test_developers_register_bad_post_logout_uri_is_rejected(
    db: Database, portal: httpx.AsyncClient
) -> None:
    response = await register_app(portal, post_logout_redirect_uris="http://printer.example/bye")

    assert response.status_code == 400
    assert page_error(response) == (
        "http://printer.example/bye: http redirect URIs are allowed only for localhost, "
        "127.0.0.1 and [::1] (RFC 8252 section 7.3)"
    )
    assert await db.count(Client) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"homepage_uri": "http://printer.example"},
            "the URL must use https (http only for localhost)",
        ),
        (
            {"logo_uri": "http://cdn.example/logo.png"},
            "the URL must use https (http only for localhost)",
        ),
        ({"homepage_uri": "javascript:alert(1)"}, "the URL must be an absolute https URL"),
        ({"logo_uri": "//cdn.example/logo.png"}, "the URL must be an absolute https URL"),
        (
            {"homepage_uri": "https://user:pw@printer.example"},
            "the URL must be an absolute https URL",
        ),
        ({"redirect_uris": ""}, "at least one redirect URI is required"),
        ({"name": "  "}, "name must be 1-200 characters"),
        ({"name": "x" * 201}, "name must be 1-200 characters"),
    ],
    ids=[
        "homepage-http",
        "logo-http",
        "homepage-javascript",
        "logo-scheme-relative",
        "homepage-credentials",
        "no-redirect-uri",
        "blank-name",
        "long-name",
    ],
)
async def test_developers_register_bad_metadata_is_rejected_with_reason(
    db: Database, portal: httpx.AsyncClient, fields: dict[str, str], message: str
) -> None:
    response = await register_app(portal, **fields)

    assert response.status_code == 400
    assert page_error(response) == message
    assert await db.count(Client) == 0


async def test_developers_register_without_csrf_token_creates_nothing(
    db: Database, portal: httpx.AsyncClient
) -> None:
    response = await portal.post("/developers/apps", data=app_form())

    assert response.status_code == 400
    assert page_error(response) == FORM_EXPIRED
    assert await db.count(Client) == 0


# --- Someone else's app ---


async def test_developers_another_user_cannot_see_edit_rotate_or_delete_my_app(
    db: Database, auth_app: FastAPI, portal: httpx.AsyncClient
) -> None:
    client = await registered(db, portal)
    before = await client_row(db, client.client_id)
    intruder = await make_user(db, username="mallory")

    async with signed_in(auth_app, intruder) as other:
        token = csrf_from((await other.get("/developers/apps/new")).text)
        path = f"/developers/apps/{client.client_id}"
        seen = await other.get(path)
        edited = await other.post(path, data={**app_form(name="Mine now"), "csrf_token": token})
        rotated = await other.post(path + "/rotate-secret", data={"csrf_token": token})
        deleted = await other.post(path + "/delete", data={"csrf_token": token})
        listing = await other.get("/developers")

    for response in (seen, edited, rotated, deleted):
        assert response.status_code == 404, response.text
        assert "There is no such app in your account." in response.text
    assert client.client_id not in listing.text
    assert await client_row(db, client.client_id) == before
    assert await db.count(RevocationEvent) == 0


async def test_developers_unknown_app_is_404(portal: httpx.AsyncClient) -> None:
    response = await portal.get("/developers/apps/no-such-client")

    assert response.status_code == 404


# --- Editing ---


async def test_developers_edit_saves_the_changes(
    db: Database, portal: httpx.AsyncClient, developer: TestUser
) -> None:
    client = await registered(db, portal)
    changes = app_form(
        name="Photo Printer 2",
        homepage_uri="",
        logo_uri="",
        redirect_uris="https://printer.example/new-callback\nhttp://localhost:8080/cb",
        post_logout_redirect_uris="",
        **{"scope-read:notes": None, "scope-email": "on"},
    )

    response = await post_app_action(portal, client.client_id, "", changes)

    assert response.status_code == 303
    assert response.headers["location"] == f"/developers/apps/{client.client_id}?message=saved"
    row = await client_row(db, client.client_id)
    assert (row.name, row.homepage_uri, row.logo_uri) == ("Photo Printer 2", None, None)
    assert row.redirect_uris == [
        "https://printer.example/new-callback",
        "http://localhost:8080/cb",
    ]
    assert row.post_logout_redirect_uris == []
    assert row.scope == "openid profile email"
    # The secret and type do not change by editing.
    assert row.client_secret_hash == client.client.client_secret_hash
    assert row.is_public is False
    page = await portal.get(response.headers["location"])
    assert "Saved." in page.text
    (event,) = await audit_events(db, "client_updated")
    assert (event.user_id, event.client_id) == (developer.id, client.client_id)


async def test_developers_edit_with_bad_redirect_uri_changes_nothing(
    db: Database, portal: httpx.AsyncClient
) -> None:
    client = await registered(db, portal)
    before = await client_row(db, client.client_id)

    response = await post_app_action(
        portal, client.client_id, "", app_form(name="Renamed", redirect_uris="https://*/cb")
    )

    assert response.status_code == 400
    assert page_error(response) == (
        "https://*/cb: redirect URI must not contain wildcards (RFC 9700 section 4.1.3)"
    )
    assert await client_row(db, client.client_id) == before


# --- Rotating the secret ---


async def test_developers_rotate_secret_shows_new_secret_and_old_one_stops_working(
    db: Database, auth_client: httpx.AsyncClient, portal: httpx.AsyncClient, developer: TestUser
) -> None:
    client = await registered(db, portal)

    response = await post_app_action(portal, client.client_id, "/rotate-secret")

    client_id, new_secret = credentials_from(response)
    assert client_id == client.client_id
    assert new_secret is not None and new_secret != client.secret
    assert "the old one no longer works" in response.text
    assert (await client_row(db, client_id)).client_secret_hash == sha256_hex(new_secret)
    probe = {
        "grant_type": "authorization_code",
        "code": "unknown",
        "redirect_uri": client.redirect_uri,
    }
    old = await auth_client.post("/oauth/token", data=probe, auth=client.basic_auth())
    assert_oauth_error(old, "invalid_client", status=401)
    assert old.headers["www-authenticate"].startswith("Basic")
    rotated = TestClient(await client_row(db, client_id), new_secret)
    tokens = await tokens_for(portal, AuthorizationRequest(rotated), developer)
    assert "access_token" in tokens
    (event,) = await audit_events(db, "client_secret_rotated")
    assert (event.user_id, event.client_id) == (developer.id, client_id)
    assert new_secret not in await database_text(db)


async def test_developers_rotate_secret_of_public_app_is_404(
    db: Database, portal: httpx.AsyncClient
) -> None:
    client = await registered(db, portal, client_type="public")
    page = await settings_page(portal, client.client_id)
    assert "/rotate-secret" not in page.text

    response = await portal.post(
        f"/developers/apps/{client.client_id}/rotate-secret",
        data={"csrf_token": csrf_from(page.text)},
    )

    assert response.status_code == 404
    assert (await client_row(db, client.client_id)).client_secret_hash is None


@pytest.mark.parametrize("action", ["", "/rotate-secret", "/delete"])
async def test_developers_app_forms_without_csrf_token_change_nothing(
    db: Database, portal: httpx.AsyncClient, action: str
) -> None:
    client = await registered(db, portal)
    before = await client_row(db, client.client_id)

    response = await portal.post(
        f"/developers/apps/{client.client_id}{action}",
        data={**app_form(name="Changed"), "csrf_token": "forged"},
    )

    assert response.status_code == 400
    assert page_error(response) == FORM_EXPIRED
    assert await client_row(db, client.client_id) == before
    assert await db.count(RevocationEvent) == 0


# --- Deleting ---


async def allow_client_credentials(db: Database, client_id: str) -> None:
    """What an operator would do with `auth-service clients update`: the portal offers no such
    grant, but deletion must revoke client_credentials tokens too."""

    async def work(repos: Repositories) -> None:
        row = await repos.clients.get_by_client_id(client_id)
        assert row is not None
        changes = ClientChanges(grant_types=[*row.grant_types, "client_credentials"])
        await update_client(repos, row, changes, now=row.updated_at)

    await db.run(work)


async def rows_of(db: Database, client_id: str) -> dict[str, int]:
    return {
        model.__name__: await db.count(model, model.client_id == client_id)  # type: ignore[attr-defined]
        for model in (Consent, Grant, AuthorizationCode, RefreshToken)
    }


async def test_developers_delete_removes_client_and_everything_it_held(
    db: Database,
    portal: httpx.AsyncClient,
    developer: TestUser,
    resource_app: FastAPI,
    resource_client: httpx.AsyncClient,
) -> None:
    client = await registered(db, portal)
    await allow_client_credentials(db, client.client_id)
    client = await as_test_client(db, client.client_id, client.secret)
    request = AuthorizationRequest(client, scope="openid profile read:notes")
    user_tokens = await tokens_for(portal, request, developer)
    machine = await client_credentials(portal, client, scope="read:notes")
    assert machine.status_code == 200, machine.text
    machine_token = machine.json()["access_token"]
    held = await rows_of(db, client.client_id)
    assert held["Consent"] == held["Grant"] == held["RefreshToken"] == 1
    notes = "/api/v1/notes"
    assert (
        await resource_client.get(notes, headers=bearer(user_tokens["access_token"]))
    ).status_code == 200
    # A client_credentials token is valid but acts for no user.
    assert (await resource_client.get(notes, headers=bearer(machine_token))).status_code == 403

    response = await post_app_action(portal, client.client_id, "/delete")

    assert response.status_code == 303
    assert response.headers["location"] == "/developers?message=deleted"
    assert await db.get(Client, client.client_id) is None
    assert await rows_of(db, client.client_id) == {
        "Consent": 0,
        "Grant": 0,
        "AuthorizationCode": 0,
        "RefreshToken": 0,
    }
    (event,) = await db.all(RevocationEvent, RevocationEvent.kind == "client")
    assert event.value == client.client_id
    (audit,) = await audit_events(db, "client_deleted")
    assert (audit.user_id, audit.client_id) == (developer.id, client.client_id)
    listing = await portal.get(response.headers["location"])
    assert "The app was deleted and every token it held was revoked." in listing.text
    assert client.client_id not in listing.text

    assert await resource_app.state.revocation_feed.poll() is True

    for token in (user_tokens["access_token"], machine_token):
        refused = await resource_client.get(notes, headers=bearer(token))
        assert_oauth_error(refused, "invalid_token", status=401, description=REVOKED)
    refresh = await portal.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": user_tokens["refresh_token"]},
        auth=client.basic_auth(),
    )
    assert_oauth_error(refresh, "invalid_client", status=401)
