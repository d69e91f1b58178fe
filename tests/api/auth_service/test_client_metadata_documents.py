"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00): a URL as
client_id at /oauth/authorize, /oauth/par and /oauth/token, resolved by fetching its document
from a real local web server; every refusal, the cache, discovery and the consent page."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.clients.registry import (
    ClientChanges,
    ClientSpec,
    register_client,
    rotate_client_secret,
    update_client,
)
from auth_service.config import AuthSettings
from auth_service.main import create_app as create_auth_app
from auth_service.repositories import Repositories
from shared.models import AuditEvent, Client, Consent, RefreshToken
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser
from tests.support.assertions import assert_error_page, assert_oauth_error, redirect_params
from tests.support.assertions_jwt import (
    assertion_claims,
    assertion_form,
    jwks_of,
    new_client_key,
    sign_assertion,
)
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import (
    AuthorizationRequest,
    authorize,
    csrf_from,
    exchange_code,
    login,
    request_id_from,
)
from tests.support.forge import unverified_claims
from tests.support.lifecycle import introspect, snapshot
from tests.support.metadata_document_server import DocumentServer, Served, document_server
from tests.support.token_endpoint import refresh

PATH = "/oauth/client.json"


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    """Parametrize with AuthSettings fields to change for one test."""
    return {}


@pytest.fixture
def settings(settings: AuthSettings, setting_overrides: dict[str, Any]) -> AuthSettings:
    # The client cache (2 s of real time) would hide the document cache these tests observe.
    return settings.model_copy(update={"client_cache_ttl": 0, **setting_overrides})


@pytest.fixture
def docs() -> Iterator[DocumentServer]:
    with document_server() as server:
        yield server


def url_client(docs: DocumentServer, client_id: str) -> TestClient:
    """The test-side view of a URL client: its id and first redirect URI (nothing stored)."""
    now = datetime.now(UTC)
    redirect_uri = docs.url("/callback")
    client = Client(
        client_id=client_id, name="", redirect_uris=[redirect_uri], created_at=now, updated_at=now
    )
    return TestClient(client, None)


async def token_probe(auth: httpx.AsyncClient, client_id: str) -> httpx.Response:
    """A token request that gets as far as client authentication and then fails on the code."""
    return await auth.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": "no-such-code",
            "redirect_uri": "http://127.0.0.1/callback",
            "code_verifier": "v" * 43,
        },
    )


async def assert_nothing_changed(
    auth_app: FastAPI, db: Database, before: dict[str, list[tuple[Any, ...]]]
) -> None:
    await auth_app.state.audit_buffer.flush()
    after = await snapshot(db)
    assert after == before
    assert await db.count(Client) == 0


# --- the whole flow ----------------------------------------------------------------------------


async def test_url_client_id_code_flow_with_pkce_issues_tokens_and_refreshes(
    auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer, user: TestUser
) -> None:
    client_id = docs.publish(PATH, scope="openid profile read:notes offline_access")
    client = url_client(docs, client_id)
    request = AuthorizationRequest(client, scope="openid read:notes offline_access")

    code = redirect_params(await authorize(auth_client, request, user), client.redirect_uri)["code"]
    response = await exchange_code(auth_client, request, code)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["scope"] == "openid read:notes offline_access"
    assert unverified_claims(body["access_token"])["client_id"] == client_id
    assert unverified_claims(body["id_token"])["aud"] == client_id
    row = await db.get(Client, client_id)
    assert row is not None
    assert row.from_metadata_document is True
    assert row.is_public is True
    assert row.client_secret_hash is None
    assert row.name == "Agent Smith"
    assert row.redirect_uris == [client.redirect_uri]
    assert row.token_endpoint_auth_method == "none"
    assert row.is_vetted is False  # anyone can publish one: treated as self-registered
    assert await db.count(Consent, Consent.client_id == client_id) == 1

    refreshed = await refresh(auth_client, client, body["refresh_token"])

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != body["refresh_token"]  # rotated (RFC 9700)
    assert await db.count(RefreshToken, RefreshToken.client_id == client_id) == 2
    assert docs.hits[PATH] == 1  # one fetch, then the cache
    apps = await auth_client.get("/account/apps")
    assert "<h2>Agent Smith</h2>" in apps.text
    assert "Published by <strong>127.0.0.1</strong>" in apps.text


async def test_url_client_id_consent_page_shows_the_host_prominently(
    auth_client: httpx.AsyncClient, docs: DocumentServer, user: TestUser
) -> None:
    client_id = docs.publish(PATH, client_name="Totally Google")
    request = AuthorizationRequest(url_client(docs, client_id))

    started = await auth_client.get(request.url())
    sign_in = await auth_client.get(started.headers["location"])
    request_id = request_id_from(started.headers["location"])
    logged_in = await login(auth_client, user, request_id=request_id)
    page = await auth_client.get(logged_in.headers["location"])

    assert sign_in.status_code == 200, sign_in.text
    assert (
        "to continue to <strong>Totally Google</strong>, an app from "
        '<strong class="publisher-host">127.0.0.1</strong>'
    ) in sign_in.text
    assert page.status_code == 200, page.text
    assert "<title>Allow an app from 127.0.0.1?" in page.text
    # draft §6: the heading names the host; the self-asserted name comes after, as a claim.
    heading = page.text.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert heading == (
        'An app from <strong class="publisher-host">127.0.0.1</strong> wants to access your account'
    )
    assert "It calls itself <strong>Totally Google</strong>." in page.text
    assert "Anyone can publish an app description on their own website" in page.text
    assert csrf_from(page.text)


async def test_url_client_id_at_par_pushes_the_request(
    auth_client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    client_id = docs.publish(PATH)
    request = AuthorizationRequest(url_client(docs, client_id))

    response = await auth_client.post("/oauth/par", data=request.params())

    assert response.status_code == 201, response.text
    assert set(response.json()) == {"request_uri", "expires_in"}


# --- refusals ------------------------------------------------------------------------------------

# The rule that refused it is not told: its text may quote the document (ours to log only).
INVALID = "the client metadata document is invalid"
# (change to the served answer, error_description)
REFUSED_DOCUMENTS: dict[str, tuple[dict[str, Any], str]] = {
    "mismatched-client-id": (
        {"document": {"client_id": "http://127.0.0.1/other.json"}},
        "the document's client_id is not the URL it was fetched from",
    ),
    "missing-redirect-uris": (
        {"document": {"redirect_uris": None}},
        "the document must list its redirect_uris",
    ),
    "empty-redirect-uris": (
        {"document": {"redirect_uris": []}},
        "the document must list its redirect_uris",
    ),
    "client-secret": (
        {"document": {"client_secret": "shh"}},
        "a client metadata document must not contain client_secret",
    ),
    "client-secret-expires-at": (
        {"document": {"client_secret_expires_at": 0}},
        "a client metadata document must not contain client_secret_expires_at",
    ),
    "secret-auth-method": (
        {"document": {"token_endpoint_auth_method": "client_secret_basic"}},
        "token_endpoint_auth_method must be none or private_key_jwt",
    ),
    "client-credentials-grant": (
        {"document": {"grant_types": ["client_credentials"]}},
        "grant_types may only be authorization_code and refresh_token",
    ),
    "grant-types-not-strings": (
        {"document": {"grant_types": [{"a": 1}]}},
        "grant_types may only be authorization_code and refresh_token",
    ),
    "secret-jwt-auth-method": (
        {"document": {"token_endpoint_auth_method": "client_secret_jwt"}},
        "token_endpoint_auth_method must be none or private_key_jwt",
    ),
    "redirect-uri-not-a-string": (
        {"document": {"redirect_uris": [7]}},
        INVALID,
    ),
    "redirect-uri-with-fragment": (
        {"document": {"redirect_uris": ["https://app.example/cb#x"]}},
        INVALID,
    ),
    "client-name-not-a-string": (
        {"document": {"client_name": ["x"]}},
        INVALID,
    ),
    "private-key-jwt-without-keys": (
        {"document": {"token_endpoint_auth_method": "private_key_jwt"}},
        INVALID,
    ),
    "jwks-with-private-key": (
        {
            "document": {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
            }
        },
        INVALID,
    ),
    "deeply-nested": (
        {"body": b"[" * 2000 + b"]" * 2000},
        "the client metadata document is not JSON",
    ),
    "invalid-utf8": (
        {"body": b'{"client_id": "\xff"}'},
        "the client metadata document is not JSON",
    ),
    "unknown-scope": (
        {"document": {"scope": "openid admin"}},
        INVALID,
    ),
    "bad-logo-uri": (
        {"document": {"logo_uri": "javascript:alert(1)"}},
        INVALID,
    ),
    "unsupported-metadata": (
        {"document": {"request_uris": ["https://x.example/r"]}},
        INVALID,
    ),
    "too-large": (
        {"document": {"client_name": "x" * 6000}},
        "the client metadata document is too large",
    ),
    "too-large-without-content-length": (
        {"body": b'{"client_id": "' + b"x" * 100_000 + b'"}', "chunked": True},
        "the client metadata document is too large",
    ),
    "not-json": ({"body": b"<html>hello</html>"}, "the client metadata document is not JSON"),
    "json-array": ({"body": b"[1, 2]"}, "the client metadata document is not a JSON object"),
    "html-content-type": (
        {"content_type": "text/html"},
        "the client metadata document is not served as JSON",
    ),
    "not-found": ({"status": 404}, "the client metadata document answered HTTP 404"),
    "server-error": ({"status": 500}, "the client metadata document answered HTTP 500"),
    "redirect": (
        {"status": 302, "headers": {"location": "http://127.0.0.1:1/elsewhere.json"}},
        "the client metadata document URL redirects",
    ),
    "timeout": ({"delay": 2.0}, "the client metadata document could not be fetched"),
    # Decompression bombs: we ask for identity (RFC 9110 §12.5.3) and refuse anything else.
    "gzip-encoded": (
        {"body": gzip.compress(b"{}"), "headers": {"content-encoding": "gzip"}},
        "the client metadata document is served compressed",
    ),
    "identity-and-br": (
        {"headers": {"content-encoding": "identity, br"}},
        "the client metadata document is served compressed",
    ),
}


def serve_refused(docs: DocumentServer, change: dict[str, Any]) -> str:
    client_id = docs.publish(PATH)
    served = docs.served[PATH]
    document = {**served.document, **change.get("document", {})}
    served.document = {k: v for k, v in document.items() if v is not None}
    for name in ("body", "status", "content_type", "delay", "chunked"):
        if name in change:
            setattr(served, name, change[name])
    served.headers.update(change.get("headers", {}))
    return client_id


@pytest.mark.parametrize("setting_overrides", [{"client_metadata_timeout": 0.5}])
@pytest.mark.parametrize(
    ("change", "description"), REFUSED_DOCUMENTS.values(), ids=REFUSED_DOCUMENTS
)
async def test_token_with_refused_document_is_invalid_client_and_stores_nothing(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    docs: DocumentServer,
    change: dict[str, Any],
    description: str,
) -> None:
    client_id = serve_refused(docs, change)
    before = await snapshot(db)

    response = await token_probe(auth_client, client_id)

    assert_oauth_error(response, "invalid_client", status=401, description=description)
    assert "www-authenticate" not in response.headers  # no Basic credentials were sent
    assert docs.hits[PATH] == 1
    await assert_nothing_changed(auth_app, db, before)


@pytest.mark.parametrize("setting_overrides", [{"client_metadata_timeout": 0.5}])
@pytest.mark.parametrize(
    "case", ["mismatched-client-id", "client-secret", "not-found", "redirect", "timeout"]
)
async def test_authorize_with_refused_document_shows_our_error_page_and_stores_nothing(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer, case: str
) -> None:
    change, description = REFUSED_DOCUMENTS[case]
    client_id = serve_refused(docs, change)
    request = AuthorizationRequest(url_client(docs, client_id))
    before = await snapshot(db)

    response = await auth_client.get(request.url())

    assert_error_page(response, description.replace("'", "&#39;"))
    await assert_nothing_changed(auth_app, db, before)


async def test_authorize_with_unregistered_redirect_uri_shows_our_error_page(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer
) -> None:
    client_id = docs.publish(PATH)
    request = AuthorizationRequest(
        url_client(docs, client_id), extra={"redirect_uri": docs.url("/callback/other")}
    )
    before = await snapshot(db)

    response = await auth_client.get(request.url())

    assert_error_page(response, "redirect_uri does not match any URI registered for this client")
    # A refused request rolls back, the copy of the (valid) document with it.
    await assert_nothing_changed(auth_app, db, before)


async def test_par_with_refused_document_is_json_invalid_client(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer
) -> None:
    client_id = serve_refused(docs, REFUSED_DOCUMENTS["client-secret"][0])
    request = AuthorizationRequest(url_client(docs, client_id))
    before = await snapshot(db)

    response = await auth_client.post("/oauth/par", data=request.params())

    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description="a client metadata document must not contain client_secret",
    )
    await assert_nothing_changed(auth_app, db, before)


REFUSED_URLS = {
    "too-long": ("/" + "a" * 250, "the client_id URL is longer than 255 characters"),
    "fragment": (PATH + "#frag", "the client_id URL must not contain a fragment"),
    "no-path": ("", "the client_id URL must contain a path"),
    "root-path": ("/", "the client_id URL must contain a path"),
    "dot-segment": ("/oauth/../client.json", "the client_id URL must not contain dot segments"),
    "single-dot": ("/./client.json", "the client_id URL must not contain dot segments"),
    "encoded-dot-segment": (
        "/a/%2E%2e/client.json",
        "the client_id URL must not contain dot segments",
    ),
    # draft §3: SHOULD NOT contain a query; we refuse one (an empty one too).
    "query": (PATH + "?v=2", "the client_id URL must not contain a query"),
    "empty-query": (PATH + "?", "the client_id URL must not contain a query"),
}


@pytest.mark.parametrize(("path", "description"), REFUSED_URLS.values(), ids=REFUSED_URLS)
async def test_token_with_refused_client_id_url_fetches_nothing(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    docs: DocumentServer,
    path: str,
    description: str,
) -> None:
    client_id = docs.url(path)
    before = await snapshot(db)

    response = await token_probe(auth_client, client_id)

    assert_oauth_error(response, "invalid_client", status=401, description=description)
    assert sum(docs.hits.values()) == 0
    await assert_nothing_changed(auth_app, db, before)


async def test_token_with_userinfo_in_client_id_url_fetches_nothing(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer
) -> None:
    client_id = f"http://user:pw@127.0.0.1:{docs.port}{PATH}"
    docs.publish(PATH)
    before = await snapshot(db)

    response = await token_probe(auth_client, client_id)

    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description="the client_id URL must not contain a user name or password",
    )
    assert sum(docs.hits.values()) == 0
    await assert_nothing_changed(auth_app, db, before)


PRODUCTION = {"environment": "production", "issuer": "https://auth.test"}


@pytest.mark.parametrize(
    "setting_overrides",
    # AUTH_ENVIRONMENT left at development on a reachable issuer must not be an open door to
    # the inside either (README "Client ID Metadata Documents").
    [PRODUCTION, {"issuer": "http://auth.example.com"}],
    ids=["production", "development-under-a-public-issuer"],
)
async def test_production_refuses_http_client_id_urls(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer
) -> None:
    client_id = docs.publish(PATH)
    before = await snapshot(db)

    response = await token_probe(auth_client, client_id)

    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description="the client_id URL must be an absolute https URL",
    )
    assert docs.hits[PATH] == 0
    await assert_nothing_changed(auth_app, db, before)


@pytest.mark.parametrize("setting_overrides", [PRODUCTION])
@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.0.0.1", "169.254.169.254", "[::1]", "2130706433"]
)
async def test_production_refuses_client_id_urls_on_internal_addresses(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer, host: str
) -> None:
    before = await snapshot(db)

    response = await token_probe(auth_client, f"https://{host}{PATH}")

    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description="the client_id URL resolves to a private or loopback address",
    )
    assert sum(docs.hits.values()) == 0
    await assert_nothing_changed(auth_app, db, before)


# --- the cache -----------------------------------------------------------------------------------


async def _fetches_after(
    auth: httpx.AsyncClient, docs: DocumentServer, clock: TestClock, seconds: float
) -> int:
    """Move the clock, start an authorization request (which stores the client row with the
    pending request), and count the fetches so far."""
    clock.advance(seconds)
    request = AuthorizationRequest(url_client(docs, docs.url(PATH)))
    response = await auth.get(request.url())
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/login")
    return docs.hits[PATH]


@pytest.mark.parametrize(
    "setting_overrides", [{"client_metadata_min_ttl": 60, "client_metadata_max_ttl": 3600}]
)
@pytest.mark.parametrize(
    ("headers", "fresh_for"),
    [
        ({"cache-control": "max-age=600"}, 600),
        ({"cache-control": "public, max-age=5"}, 60),  # the floor
        ({"cache-control": "max-age=999999"}, 3600),  # the ceiling
        ({"cache-control": "max-age=" + "9" * 30}, 3600),  # past what a timedelta holds
        ({"cache-control": "no-store"}, 60),
        ({"cache-control": "no-cache"}, 60),
        ({}, 60),
        ({"expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, 3600),
        ({"expires": "garbage"}, 60),
    ],
    ids=[
        "max-age",
        "floor",
        "ceiling",
        "huge-max-age",
        "no-store",
        "no-cache",
        "none",
        "expires",
        "bad-expires",
    ],
)
async def test_document_cache_follows_http_headers_within_floor_and_ceiling(
    auth_client: httpx.AsyncClient,
    docs: DocumentServer,
    clock: TestClock,
    headers: dict[str, str],
    fresh_for: int,
) -> None:
    docs.publish(PATH)
    docs.served[PATH].headers.update(headers)

    assert await _fetches_after(auth_client, docs, clock, 0) == 1
    assert await _fetches_after(auth_client, docs, clock, fresh_for - 1) == 1
    assert await _fetches_after(auth_client, docs, clock, 2) == 2


async def test_changed_document_updates_the_client_row_when_fetched_again(
    auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer, clock: TestClock
) -> None:
    client_id = docs.publish(PATH)
    docs.served[PATH].headers["cache-control"] = "max-age=120"
    assert await _fetches_after(auth_client, docs, clock, 0) == 1
    docs.served[PATH].document["client_name"] = "Agent Smith 2"

    assert await _fetches_after(auth_client, docs, clock, 60) == 1
    row = await db.get(Client, client_id)
    assert row is not None and row.name == "Agent Smith"
    assert await _fetches_after(auth_client, docs, clock, 61) == 2
    row = await db.get(Client, client_id)
    assert row is not None and row.name == "Agent Smith 2"


async def test_document_that_became_invalid_refuses_the_stored_client(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    docs: DocumentServer,
    clock: TestClock,
) -> None:
    client_id = docs.publish(PATH)
    assert await _fetches_after(auth_client, docs, clock, 0) == 1
    docs.served[PATH].status = 404
    clock.advance(61)

    response = await token_probe(auth_client, client_id)

    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description="the client metadata document answered HTTP 404",
    )


# --- discovery, the setting, and who may change such a client ------------------------------------


async def test_discovery_offers_client_id_metadata_documents(
    auth_client: httpx.AsyncClient,
) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        metadata = (await auth_client.get(path)).json()
        assert metadata["client_id_metadata_document_supported"] is True


@pytest.mark.parametrize("setting_overrides", [{"client_metadata_documents_enabled": False}])
async def test_disabled_feature_is_not_offered_and_url_client_ids_are_unknown(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer
) -> None:
    client_id = docs.publish(PATH)
    metadata = (await auth_client.get("/.well-known/openid-configuration")).json()
    before = await snapshot(db)

    response = await token_probe(auth_client, client_id)
    page = await auth_client.get(AuthorizationRequest(url_client(docs, client_id)).url())

    assert "client_id_metadata_document_supported" not in metadata
    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert_error_page(page, "the client is unknown")
    assert docs.hits[PATH] == 0
    await assert_nothing_changed(auth_app, db, before)


async def test_stored_document_client_is_unknown_once_the_feature_is_disabled(
    auth_client: httpx.AsyncClient,
    db: Database,
    docs: DocumentServer,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
    introspector: TestClient,
) -> None:
    """The row a document left behind is no registration: an instance with the feature off
    must not take the client's refresh token, nor redirect to its post-logout URI."""
    logout_uri = docs.url("/bye")
    client_id = docs.publish(
        PATH, scope="openid offline_access", post_logout_redirect_uris=[logout_uri]
    )
    client = url_client(docs, client_id)
    request = AuthorizationRequest(client, scope="openid offline_access")
    code = redirect_params(await authorize(auth_client, request, user), client.redirect_uri)["code"]
    tokens = (await exchange_code(auth_client, request, code)).json()
    off = create_auth_app(
        settings.model_copy(update={"client_metadata_documents_enabled": False}), clock=clock
    )
    transport = httpx.ASGITransport(app=off)
    async with (
        LifespanManager(off),
        httpx.AsyncClient(transport=transport, base_url=ISSUER) as off_client,
    ):
        seen = [
            (await introspect(off_client, introspector, tokens[name])).json()
            for name in ("access_token", "refresh_token")
        ]
        seen_while_on = (await introspect(auth_client, introspector, tokens["access_token"])).json()
        bearer = {"authorization": f"Bearer {tokens['access_token']}"}
        userinfo = await off_client.get("/oauth/userinfo", headers=bearer)
        userinfo_while_on = await auth_client.get("/oauth/userinfo", headers=bearer)
        refreshed = await refresh(off_client, client, tokens["refresh_token"])
        logout = await off_client.get(
            "/oauth/logout",
            params={"client_id": client_id, "post_logout_redirect_uri": logout_uri},
        )
        revoked = await off_client.post(
            "/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": client_id}
        )

    assert seen == [{"active": False}, {"active": False}]  # RFC 7662 §2.2
    assert userinfo.status_code == 401  # RFC 6750 §3.1
    assert 'error="invalid_token"' in userinfo.headers["www-authenticate"]
    assert userinfo_while_on.status_code == 200, userinfo_while_on.text
    assert seen_while_on["active"] is True and seen_while_on["client_id"] == client_id
    assert_oauth_error(refreshed, "invalid_client", status=401)
    assert_error_page(logout, "the client is unknown")
    assert_oauth_error(revoked, "invalid_client", status=401)
    assert await db.count(RefreshToken, RefreshToken.client_id == client_id) == 1
    assert await db.count(RefreshToken, RefreshToken.revoked_at.is_not(None)) == 0  # type: ignore[union-attr]
    assert docs.hits[PATH] == 1


async def test_document_client_cannot_be_changed_or_given_a_secret(
    auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer, clock: TestClock
) -> None:
    client_id = docs.publish(PATH)
    await _fetches_after(auth_client, docs, clock, 0)
    message = "this client is defined by its client metadata document; change the document"

    async def change(repos: Repositories) -> list[str]:
        client = await repos.clients.get_by_client_id(client_id)
        assert client is not None
        problems = []
        for attempt in (
            update_client(repos, client, ClientChanges(name="Mine now"), now=clock()),
            rotate_client_secret(repos, client, now=clock()),
        ):
            try:
                await attempt
            except ValueError as error:
                problems.append(str(error))
        return problems

    assert await db.run(change) == [message, message]
    row = await db.get(Client, client_id)
    assert row is not None and row.name == "Agent Smith" and row.client_secret_hash is None


async def test_document_with_private_key_jwt_authenticates_with_its_own_keys(
    auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer, user: TestUser
) -> None:
    key = new_client_key("ES256")
    client_id = docs.publish(PATH, token_endpoint_auth_method="private_key_jwt", jwks=jwks_of(key))
    request = AuthorizationRequest(url_client(docs, client_id))
    code = redirect_params(await authorize(auth_client, request, user), request.redirect_uri)[
        "code"
    ]
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.verifier,
    }

    forged = await auth_client.post(
        "/oauth/token",
        data=assertion_form(
            sign_assertion(new_client_key("ES256"), assertion_claims(client_id)), **fields
        ),
    )
    response = await auth_client.post(
        "/oauth/token",
        data=assertion_form(sign_assertion(key, assertion_claims(client_id)), **fields),
    )

    assert_oauth_error(forged, "invalid_client", status=401)
    assert response.status_code == 200, response.text
    assert unverified_claims(response.json()["access_token"])["client_id"] == client_id
    row = await db.get(Client, client_id)
    assert row is not None
    assert (row.is_public, row.token_endpoint_auth_method) == (False, "private_key_jwt")
    assert row.client_secret_hash is None and row.jwks == jwks_of(key)


@pytest.mark.parametrize(
    ("setting_overrides", "allowed"),
    [({}, True), ({"client_metadata_deny_hosts": "localhost"}, False)],
    ids=["allowed", "denied"],
)
async def test_document_clients_jwks_uri_follows_the_denied_hosts(
    auth_client: httpx.AsyncClient, docs: DocumentServer, user: TestUser, allowed: bool
) -> None:
    """The document's jwks_uri is as client-chosen as its client_id: an operator's denied host
    is not fetched for it either (here the same server under another name)."""
    key = new_client_key("ES256")
    jwks_uri = docs.url("/jwks.json").replace("127.0.0.1", "localhost")
    docs.served["/jwks.json"] = Served(document=jwks_of(key))
    client_id = docs.publish(PATH, token_endpoint_auth_method="private_key_jwt", jwks_uri=jwks_uri)
    request = AuthorizationRequest(url_client(docs, client_id))
    code = redirect_params(await authorize(auth_client, request, user), request.redirect_uri)[
        "code"
    ]

    response = await auth_client.post(
        "/oauth/token",
        data=assertion_form(
            sign_assertion(key, assertion_claims(client_id)),
            grant_type="authorization_code",
            code=code,
            redirect_uri=request.redirect_uri,
            code_verifier=request.verifier,
        ),
    )

    if allowed:
        assert response.status_code == 200, response.text
        assert docs.hits["/jwks.json"] == 1
    else:
        assert_oauth_error(response, "invalid_client", status=401)
        assert docs.hits["/jwks.json"] == 0


async def test_url_client_revokes_its_refresh_token(
    auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer, user: TestUser
) -> None:
    client_id = docs.publish(PATH, scope="openid offline_access")
    request = AuthorizationRequest(url_client(docs, client_id), scope="openid offline_access")
    code = redirect_params(await authorize(auth_client, request, user), request.redirect_uri)[
        "code"
    ]
    tokens = (await exchange_code(auth_client, request, code)).json()

    response = await auth_client.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": client_id}
    )

    assert response.status_code == 200, response.text
    assert await db.count(RefreshToken, RefreshToken.revoked_at.is_not(None)) >= 1  # type: ignore[union-attr]


async def test_instance_with_an_older_cached_document_does_not_write_it_back(
    auth_client: httpx.AsyncClient,
    db: Database,
    docs: DocumentServer,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    client_id = docs.publish(PATH)
    docs.served[PATH].headers["cache-control"] = "max-age=600"
    other = create_auth_app(settings, clock=clock)  # a second instance on the same database
    transport = httpx.ASGITransport(app=other)
    async with (
        LifespanManager(other),
        httpx.AsyncClient(transport=transport, base_url=ISSUER) as other_client,
    ):
        assert await _fetches_after(other_client, docs, clock, 0) == 1  # caches the first copy
        docs.served[PATH].document["client_name"] = "Agent Smith 2"
        assert await _fetches_after(auth_client, docs, clock, 1) == 2  # fetches the new one
        assert await _fetches_after(other_client, docs, clock, 1) == 2  # still its old copy

    row = await db.get(Client, client_id)
    assert row is not None and row.name == "Agent Smith 2"


async def test_client_id_url_of_255_characters_fits_every_client_id_column(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    docs: DocumentServer,
    user: TestUser,
) -> None:
    path = "/" + "a" * (255 - len(docs.url("/")))
    client_id = docs.publish(path, scope="openid offline_access")
    assert len(client_id) == 255
    request = AuthorizationRequest(url_client(docs, client_id), scope="openid offline_access")

    code = redirect_params(await authorize(auth_client, request, user), request.redirect_uri)[
        "code"
    ]
    response = await exchange_code(auth_client, request, code)

    assert response.status_code == 200, response.text
    assert await db.count(Client, Client.client_id == client_id) == 1
    assert await db.count(Consent, Consent.client_id == client_id) == 1
    assert await db.count(RefreshToken, RefreshToken.client_id == client_id) == 1
    await auth_app.state.audit_buffer.flush()
    assert await db.count(AuditEvent, AuditEvent.client_id == client_id) >= 2  # consent, tokens


# --- hardening: what the fetch asks for, the URL rules, failures, throttles, registered ids ------


async def test_document_fetch_asks_for_an_uncompressed_body(
    auth_client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    client_id = docs.publish(PATH)

    response = await token_probe(auth_client, client_id)

    assert_oauth_error(response, "invalid_grant", status=400)  # the document was fine
    # RFC 9110 §12.5.3: identity only, so no compressed answer can inflate past the size limit.
    assert docs.request_headers[PATH]["accept-encoding"] == "identity"


@pytest.mark.parametrize("setting_overrides", [PRODUCTION])
@pytest.mark.parametrize(
    ("client_id", "description"),
    [
        ("https://app.example:99999/client.json", "the client_id URL is malformed"),
        ("https://app.example:abc/client.json", "the client_id URL is malformed"),
        ("https://app.example:-1/client.json", "the client_id URL is malformed"),
        (
            "https://app.example:8443/client.json",
            "the client_id URL must not name a port other than 443",
        ),
        ("https://app.example/client.json?v=2", "the client_id URL must not contain a query"),
        # An A-label that is not valid punycode (RFC 5891 §5.4): no name to look up.
        ("https://xn--a-.example/client.json", "the client_id URL host is not a valid name"),
    ],
    ids=["port-out-of-range", "port-not-a-number", "negative-port", "other-port", "query", "idna"],
)
async def test_production_refuses_bad_ports_and_queries_without_a_fetch(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    client_id: str,
    description: str,
) -> None:
    before = await snapshot(db)

    token = await token_probe(auth_client, client_id)
    page = await auth_client.get(
        "/oauth/authorize",
        params={
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": "https://app.example/cb",
        },
    )

    assert_oauth_error(token, "invalid_client", status=401, description=description)
    assert_error_page(page, description)
    assert auth_app.state.client_documents.fetch_count == 0
    await assert_nothing_changed(auth_app, db, before)


@pytest.mark.parametrize("setting_overrides", [{"client_metadata_failure_ttl": 30}])
@pytest.mark.parametrize("case", ["not-found", "server-error", "client-secret", "not-json"])
async def test_failed_fetch_is_remembered_for_the_failure_ttl(
    auth_client: httpx.AsyncClient, docs: DocumentServer, clock: TestClock, case: str
) -> None:
    change, description = REFUSED_DOCUMENTS[case]
    client_id = serve_refused(docs, change)

    for _ in range(3):
        response = await token_probe(auth_client, client_id)
        assert_oauth_error(response, "invalid_client", status=401, description=description)
    assert docs.hits[PATH] == 1
    clock.advance(29)
    await token_probe(auth_client, client_id)
    assert docs.hits[PATH] == 1

    clock.advance(2)
    docs.publish(PATH)  # fixed meanwhile: seen once the failure is forgotten
    response = await token_probe(auth_client, client_id)

    assert_oauth_error(response, "invalid_grant", status=400)
    assert docs.hits[PATH] == 2


@pytest.mark.parametrize("setting_overrides", [{"client_metadata_failure_ttl": 0}])
async def test_failure_ttl_zero_remembers_nothing(
    auth_client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    client_id = serve_refused(docs, REFUSED_DOCUMENTS["not-found"][0])

    await token_probe(auth_client, client_id)
    await token_probe(auth_client, client_id)

    assert docs.hits[PATH] == 2


def _paths(count: int) -> list[str]:
    return [f"/oauth/client-{n}.json" for n in range(count)]


@pytest.mark.parametrize(
    "setting_overrides",
    [{"client_metadata_fetch_limit_per_ip": 2, "client_metadata_fetch_limit_per_host": 100}],
)
async def test_fetches_per_client_address_are_limited(
    auth_client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    first, second, third = (docs.publish(path) for path in _paths(3))
    # Another host name for the same server: the per-address limit counts across hosts.
    third = third.replace("127.0.0.1", "localhost")

    allowed = [await token_probe(auth_client, client_id) for client_id in (first, second)]
    refused = await token_probe(auth_client, third)
    cached = await token_probe(auth_client, first)  # from the cache: no fetch, no count

    assert [r.status_code for r in allowed] == [400, 400]  # invalid_grant: the client was fine
    assert_oauth_error(refused, "temporarily_unavailable", status=429)
    assert int(refused.headers["retry-after"]) > 0
    assert docs.hits[_paths(3)[2]] == 0
    assert_oauth_error(cached, "invalid_grant", status=400)


@pytest.mark.parametrize(
    "setting_overrides",
    [{"client_metadata_fetch_limit_per_ip": 100, "client_metadata_fetch_limit_per_host": 2}],
)
async def test_fetches_per_target_host_are_limited(
    auth_client: httpx.AsyncClient, docs: DocumentServer, user: TestUser
) -> None:
    first, second, third, other_host = (docs.publish(path) for path in _paths(4))
    for path in _paths(2):
        named = docs.served[path].document["client_id"].replace("127.0.0.1", "localhost")
        docs.served[path].document["client_id"] = named
    first, second = (url.replace("127.0.0.1", "localhost") for url in (first, second))
    # The same name in capitals with a trailing dot (RFC 1034 §3.1): the same host's count.
    third = third.replace("127.0.0.1", "LocalHost.")

    for client_id in (first, second):
        assert (await token_probe(auth_client, client_id)).status_code == 400
    refused = await token_probe(auth_client, third)
    page = await auth_client.get(AuthorizationRequest(url_client(docs, third)).url())
    elsewhere = await token_probe(auth_client, other_host)

    assert_oauth_error(refused, "temporarily_unavailable", status=429)
    assert page.status_code == 429
    assert "retry-after" in page.headers
    assert docs.hits[_paths(4)[2]] == 0
    assert elsewhere.status_code == 400, elsewhere.text  # another host: its own count
    assert docs.hits[_paths(4)[3]] == 1


@pytest.mark.parametrize(
    "setting_overrides", [{"client_metadata_deny_hosts": "blocked.example, *.127.0.0.1,127.0.0.1"}]
)
async def test_denied_hosts_are_never_fetched(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer
) -> None:
    client_id = docs.publish(PATH)
    before = await snapshot(db)

    response = await token_probe(auth_client, client_id)
    page = await auth_client.get(AuthorizationRequest(url_client(docs, client_id)).url())

    assert_oauth_error(
        response, "invalid_client", status=401, description="the client_id URL host is not allowed"
    )
    assert_error_page(page, "the client_id URL host is not allowed")
    assert docs.hits[PATH] == 0
    await assert_nothing_changed(auth_app, db, before)


async def test_registered_client_with_a_url_id_is_used_without_a_fetch(
    auth_client: httpx.AsyncClient, db: Database, docs: DocumentServer
) -> None:
    client_id = docs.publish(PATH)  # a document is there too; the registration wins
    spec = ClientSpec(name="Registered", redirect_uris=[docs.url("/callback")], scope="openid")
    await db.run(
        lambda repos: register_client(repos, spec, now=datetime.now(UTC), client_id=client_id)
    )
    request = AuthorizationRequest(url_client(docs, client_id), scope="openid")

    page = await auth_client.get(request.url())
    token = await token_probe(auth_client, client_id)

    assert page.status_code == 303, page.text
    assert page.headers["location"].startswith("/login")
    # A confidential registered client, and no secret was sent.
    assert_oauth_error(token, "invalid_client", status=401)
    assert docs.hits[PATH] == 0
    row = await db.get(Client, client_id)
    assert row is not None and row.from_metadata_document is False and row.name == "Registered"


@pytest.mark.parametrize("setting_overrides", [{"client_cache_ttl": 3600}])
async def test_document_clients_stay_out_of_the_registered_client_cache(
    auth_client: httpx.AsyncClient, docs: DocumentServer, clock: TestClock
) -> None:
    client_id = docs.publish(PATH)
    assert (await token_probe(auth_client, client_id)).status_code == 400
    docs.served[PATH].status = 404
    clock.advance(61)  # past the document's floor; the client cache would still hold it

    response = await token_probe(auth_client, client_id)

    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description="the client metadata document answered HTTP 404",
    )
    assert docs.hits[PATH] == 2
