"""Signed request objects (RFC 9101, JAR): `request` at /oauth/authorize and at the PAR endpoint,
verified with the client's registered keys; every refusal is invalid_request_object (our own
page at /oauth/authorize, JSON at PAR) and leaves nothing stored."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from auth_service.clients.registry import ClientKeys
from shared.models import PushedAuthorizationRequest
from tests.conftest import ISSUER
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_client
from tests.support.assertions import assert_error_page, assert_oauth_error
from tests.support.assertions_jwt import (
    ClientKey,
    assertion_claims,
    assertion_form,
    jwks_of,
    new_client_key,
    sign_assertion,
)
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.forge import compact
from tests.support.jwks_server import jwks_server
from tests.support.lifecycle import snapshot
from tests.support.pages import assert_client_code, remember_consent, sha256_hex, sign_in

TYP = "oauth-authz-req+jwt"
JWT_CLAIMS = {"iss", "aud", "exp", "nbf", "iat", "jti"}


@pytest.fixture(scope="module")
def client_key() -> ClientKey:
    return new_client_key("PS256")


@pytest.fixture(scope="module")
def other_key() -> ClientKey:
    return new_client_key("PS256")


@pytest.fixture
async def jar_client(db: Database, client_key: ClientKey) -> TestClient:
    return await key_client(db, ClientKeys(jwks=jwks_of(client_key)))


async def key_client(db: Database, keys: ClientKeys) -> TestClient:
    """RFC 7591 §2: keys are registered by private_key_jwt clients."""
    return await make_client(db, token_endpoint_auth_method="private_key_jwt", keys=keys)


async def ready_to_issue(
    db: Database, auth: httpx.AsyncClient, user: TestUser, client: TestClient
) -> None:
    """Signed in and consented: a valid request gets its code at once."""
    await sign_in(auth, user)
    await remember_consent(db, user, client, "openid profile")


def assert_code_for(response: httpx.Response, request: AuthorizationRequest) -> None:
    """A code at the object's redirect URI with the object's state (RFC 6749 §4.1.2)."""
    assert response.status_code == 302, response.text
    assert_client_code(response, REDIRECT_URI, state=request.state)


def object_claims(request: AuthorizationRequest, /, **overrides: Any) -> dict[str, Any]:
    """The request's parameters as request object claims (RFC 9101 §4); None drops a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        **request.params(),
        "iss": request.client.client_id,
        "aud": ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signed(key: ClientKey, claims: dict[str, Any], **header: Any) -> str:
    return sign_assertion(key, claims, **{"typ": TYP, **header})


def authorize_url(client_id: str | None, **params: str) -> str:
    query = {"client_id": client_id, **params} if client_id is not None else params
    return "/oauth/authorize?" + urlencode(query)


async def push(
    auth: httpx.AsyncClient, key: ClientKey, client: TestClient, **form: str
) -> httpx.Response:
    """POST /oauth/par authenticated with private_key_jwt (RFC 7523 §2.2)."""
    assertion = sign_assertion(key, assertion_claims(client.client_id))
    return await auth.post("/oauth/par", data={**form, **assertion_form(assertion)})


# --- Accepted ---


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
async def test_request_object_at_authorize_issues_code_with_the_objects_parameters_only(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, alg: str
) -> None:
    key = new_client_key(alg)
    client = await key_client(db, ClientKeys(jwks=jwks_of(key)))
    await ready_to_issue(db, auth_client, user, client)
    request = AuthorizationRequest(client)
    token = signed(key, object_claims(request))

    # RFC 9101 §6.3: parameters beside the object are ignored (client_id must agree).
    response = await auth_client.get(
        authorize_url(client.client_id, request=token, state="query-state", scope="bogus")
    )

    assert_code_for(response, request)


# RFC 9101 §4 / RFC 7515 §4.1.9: typ may be left out, or carry the "application/" prefix.
@pytest.mark.parametrize("typ", [None, "application/oauth-authz-req+jwt", "OAUTH-AUTHZ-REQ+JWT"])
async def test_request_object_typ_variants_aud_array_and_no_nbf_or_jti_are_accepted(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    jar_client: TestClient,
    client_key: ClientKey,
    typ: str | None,
) -> None:
    await ready_to_issue(db, auth_client, user, jar_client)
    request = AuthorizationRequest(jar_client)
    claims = object_claims(request, aud=["https://other.example", ISSUER], nbf=None, jti=None)

    response = await auth_client.get(
        authorize_url(jar_client.client_id, request=sign_assertion(client_key, claims, typ=typ))
    )

    assert_code_for(response, request)


async def test_request_object_at_par_stores_the_objects_claims_as_parameters(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    jar_client: TestClient,
    client_key: ClientKey,
) -> None:
    request = AuthorizationRequest(jar_client, extra={"max_age": None})
    claims = object_claims(request, max_age=600)

    # RFC 9126 §3 / RFC 9101 §6.3: only the object counts; a form parameter beside it is ignored.
    response = await push(
        auth_client, client_key, jar_client, request=signed(client_key, claims), scope="bogus"
    )

    assert response.status_code == 201, response.text
    request_uri = response.json()["request_uri"]
    row = await db.get(PushedAuthorizationRequest, sha256_hex(request_uri))
    assert row is not None
    expected = {k: str(v) for k, v in claims.items() if k not in JWT_CLAIMS}
    assert row.params == expected
    assert row.params["max_age"] == "600"

    await ready_to_issue(db, auth_client, user, jar_client)
    authorized = await auth_client.get(authorize_url(jar_client.client_id, request_uri=request_uri))
    assert_code_for(authorized, request)


# --- Refused ---

# (the request object, built from the client's key, another key and a valid request) -> token
Forge = Callable[[ClientKey, ClientKey, AuthorizationRequest], str]
HOUR = 3600


def _now() -> int:
    return int(time.time())


# (id, claim changes, error_description): the claims of RFC 9101 §6.3 and FAPI 2.0 Message
# Signing §5.3.1. The changes are computed when the token is made, so times are fresh.
CLAIM_REFUSALS: list[tuple[str, Callable[[], dict[str, Any]], str]] = [
    ("wrong_iss", lambda: {"iss": "someone-else"}, "request object iss must be the client_id"),
    ("no_iss", lambda: {"iss": None}, "request object iss must be the client_id"),
    (
        "wrong_aud",
        lambda: {"aud": f"{ISSUER}/oauth/token"},
        "request object aud must be the issuer identifier",
    ),
    ("no_aud", lambda: {"aud": None}, "request object aud must be the issuer identifier"),
    (
        "client_id_mismatch",
        lambda: {"client_id": "someone-else"},
        "request object client_id differs from the client_id",
    ),
    ("no_exp", lambda: {"exp": None}, "request object has no exp"),
    ("expired", lambda: {"exp": _now() - 600}, "request object has expired"),
    (
        "exp_too_far",
        lambda: {"exp": _now() + HOUR + 600},
        "request object exp is more than 60 minutes ahead",
    ),
    ("nbf_in_future", lambda: {"nbf": _now() + 600}, "request object is not valid yet"),
    (
        "nbf_too_old",
        lambda: {"nbf": _now() - HOUR - 600},
        "request object nbf is more than 60 minutes ago",
    ),
    (
        "nested_request",
        lambda: {"request": "eyJ0.e30.sig"},
        "a request object must not contain request or request_uri",
    ),
    (
        "nested_request_uri",
        lambda: {"request_uri": "https://client.example/r"},
        "a request object must not contain request or request_uri",
    ),
    ("empty_jti", lambda: {"jti": ""}, "request object jti is malformed"),
    (
        "boolean_parameter",
        lambda: {"max_age": True},
        "a request object parameter is not a string or number",
    ),
]

REFUSALS: list[Any] = [
    pytest.param(
        lambda k, o, r: compact({"alg": "none", "typ": TYP}, object_claims(r)),
        "request object refused: token algorithm is not allowed",
        id="alg_none",
    ),
    pytest.param(
        lambda k, o, r: sign_assertion(None, object_claims(r), secret="s" * 43, kid=k.kid),
        "request object refused: token algorithm is not allowed",
        id="hs256",
    ),
    pytest.param(
        lambda k, o, r: compact({"alg": "RS512", "kid": k.kid}, object_claims(r), b"x"),
        "request object refused: token algorithm is not allowed",
        id="unknown_alg",
    ),
    pytest.param(
        lambda k, o, r: signed(o, object_claims(r), kid=k.kid),
        "request object refused: token signature is invalid",
        id="wrong_key_same_kid",
    ),
    pytest.param(
        lambda k, o, r: signed(o, object_claims(r)),
        "request object refused: token was not signed by a registered key",
        id="unregistered_key",
    ),
    pytest.param(
        lambda k, o, r: signed(k, object_claims(r), jwk=o.public_jwk),
        "request object refused: token header must not carry keys",
        id="header_jwk",
    ),
    pytest.param(
        lambda k, o, r: compact(
            {"alg": k.alg, "kid": k.kid, "crit": ["exp"]}, object_claims(r), b"x"
        ),
        "request object refused: token header has critical extensions we do not understand",
        id="header_crit",
    ),
    pytest.param(
        lambda k, o, r: "not-a-jwt",
        "request object refused: malformed token",
        id="not_a_jwt",
    ),
    pytest.param(
        lambda k, o, r: "a.b.c.d.e",
        "request object refused: malformed token",
        id="encrypted_form",
    ),
    pytest.param(
        lambda k, o, r: signed(k, object_claims(r), typ="JWT"),
        f"request object typ must be {TYP}",
        id="wrong_typ",
    ),
    *(
        pytest.param(
            lambda k, o, r, changes=changes: signed(k, object_claims(r, **changes())),
            description,
            id=name,
        )
        for name, changes, description in CLAIM_REFUSALS
    ),
]


@pytest.mark.parametrize(("forge", "description"), REFUSALS)
async def test_request_object_refused_at_authorize_on_our_page_and_nothing_stored(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    jar_client: TestClient,
    client_key: ClientKey,
    other_key: ClientKey,
    forge: Forge,
    description: str,
) -> None:
    await sign_in(auth_client, user)
    token = forge(client_key, other_key, AuthorizationRequest(jar_client))
    before = await snapshot(db)

    response = await auth_client.get(authorize_url(jar_client.client_id, request=token))

    # RFC 9101 §6.2: invalid_request_object; never a redirect to a URI nobody verified.
    assert_error_page(response, "invalid_request_object")
    assert_error_page(response, description)
    assert await snapshot(db) == before


@pytest.mark.parametrize(("forge", "description"), REFUSALS)
async def test_request_object_refused_at_par_as_json_and_nothing_stored(
    db: Database,
    auth_client: httpx.AsyncClient,
    jar_client: TestClient,
    client_key: ClientKey,
    other_key: ClientKey,
    forge: Forge,
    description: str,
) -> None:
    token = forge(client_key, other_key, AuthorizationRequest(jar_client))
    before = await snapshot(db)

    response = await push(auth_client, client_key, jar_client, request=token)

    # RFC 6749 §5.2 / RFC 9126 §2.3: a JSON error, never a redirect.
    assert_oauth_error(response, "invalid_request_object", description=description)
    assert response.headers["cache-control"] == "no-store"
    assert "location" not in response.headers
    assert await db.count(PushedAuthorizationRequest) == 0
    after = await snapshot(db)
    # The client assertion's own jti is spent by authentication; nothing else changes.
    after.pop("used_jti", None), before.pop("used_jti", None)
    assert after == before


async def test_request_object_jti_replayed_is_refused_at_authorize(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    jar_client: TestClient,
    client_key: ClientKey,
) -> None:
    await ready_to_issue(db, auth_client, user, jar_client)
    request = AuthorizationRequest(jar_client)
    url = authorize_url(jar_client.client_id, request=signed(client_key, object_claims(request)))
    assert_code_for(await auth_client.get(url), request)
    before = await snapshot(db)

    again = await auth_client.get(url)

    assert_error_page(again, "request object jti was already used")
    assert await snapshot(db) == before


async def test_request_object_jti_replayed_is_refused_at_par(
    db: Database, auth_client: httpx.AsyncClient, jar_client: TestClient, client_key: ClientKey
) -> None:
    token = signed(client_key, object_claims(AuthorizationRequest(jar_client)))
    assert (await push(auth_client, client_key, jar_client, request=token)).status_code == 201

    again = await push(auth_client, client_key, jar_client, request=token)

    assert_oauth_error(
        again, "invalid_request_object", description="request object jti was already used"
    )
    assert await db.count(PushedAuthorizationRequest) == 1


async def test_request_object_with_request_uri_is_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, jar_client: TestClient, client_key: ClientKey
) -> None:
    token = signed(client_key, object_claims(AuthorizationRequest(jar_client)))
    before = await snapshot(db)

    # RFC 9101 §5: one or the other.
    at_authorize = await auth_client.get(
        authorize_url(
            jar_client.client_id,
            request=token,
            request_uri="urn:ietf:params:oauth:request_uri:abc",
        )
    )
    at_par = await push(
        auth_client, client_key, jar_client, request=token, request_uri="https://client.example/r"
    )

    description = "request and request_uri must not both be sent (RFC 9101)"
    assert_error_page(at_authorize, "invalid_request")
    assert_error_page(at_authorize, description)
    assert_oauth_error(at_par, "invalid_request", description=description)
    assert await db.count(PushedAuthorizationRequest) == 0
    after = await snapshot(db)
    after.pop("used_jti", None), before.pop("used_jti", None)
    assert after == before


async def test_request_object_sent_twice_or_without_client_id_is_refused_at_authorize(
    db: Database, auth_client: httpx.AsyncClient, jar_client: TestClient, client_key: ClientKey
) -> None:
    token = signed(client_key, object_claims(AuthorizationRequest(jar_client)))
    before = await snapshot(db)

    twice = await auth_client.get(
        "/oauth/authorize?"
        + urlencode([("client_id", jar_client.client_id), ("request", token), ("request", token)])
    )
    # RFC 9101 §5: client_id is still required in the query.
    no_client_id = await auth_client.get(authorize_url(None, request=token))

    assert_error_page(twice, "request was sent more than once")
    assert_error_page(no_client_id, "client_id is required with request (RFC 9101 section 5)")
    assert await snapshot(db) == before


async def test_request_object_from_client_without_registered_keys_is_refused(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    client_key: ClientKey,
) -> None:
    token = signed(client_key, object_claims(AuthorizationRequest(confidential_client)))
    before = await snapshot(db)

    response = await auth_client.get(authorize_url(confidential_client.client_id, request=token))

    assert_error_page(response, "invalid_request_object")
    assert_error_page(
        response, "the client registered no keys (jwks or jwks_uri) to sign request objects with"
    )
    assert await snapshot(db) == before


async def test_request_object_invalid_request_inside_is_redirected_to_its_verified_uri(
    db: Database, auth_client: httpx.AsyncClient, jar_client: TestClient, client_key: ClientKey
) -> None:
    # Once the object is verified, its redirect_uri is the client's: errors go back there.
    request = AuthorizationRequest(jar_client, scope="openid unknown-scope")
    token = signed(client_key, object_claims(request))

    response = await auth_client.get(authorize_url(jar_client.client_id, request=token))

    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    assert "error=invalid_scope" in location
    assert f"state={request.state}" in location


async def test_request_object_verified_with_keys_from_jwks_uri(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, client_key: ClientKey
) -> None:
    # RFC 9101 §6.1 / RFC 7591 §2: keys fetched from the client's jwks_uri serve as well.
    with jwks_server() as server:
        server.jwks = jwks_of(client_key)
        client = await key_client(db, ClientKeys(jwks_uri=server.url))
        await ready_to_issue(db, auth_client, user, client)
        request = AuthorizationRequest(client)

        response = await auth_client.get(
            authorize_url(client.client_id, request=signed(client_key, object_claims(request)))
        )

        assert_code_for(response, request)
        assert server.hits == 1


async def test_request_object_with_unreachable_jwks_uri_is_invalid_request_object(
    db: Database, auth_client: httpx.AsyncClient, client_key: ClientKey
) -> None:
    with jwks_server() as server:
        server.status = 500
        client = await key_client(db, ClientKeys(jwks_uri=server.url))
        token = signed(client_key, object_claims(AuthorizationRequest(client)))
        before = await snapshot(db)

        response = await auth_client.get(authorize_url(client.client_id, request=token))

        # The client's server failed, not ours: a refusal on our page, never a 500.
        assert_error_page(response, "invalid_request_object")
        assert_error_page(response, "keys could not be fetched")
        assert await snapshot(db) == before


async def test_request_object_from_client_that_must_push_is_refused_unless_pushed(
    db: Database, auth_client: httpx.AsyncClient, client_key: ClientKey
) -> None:
    # RFC 9126 §4: a signed request is still not a pushed one.
    client = await make_client(
        db,
        token_endpoint_auth_method="private_key_jwt",
        keys=ClientKeys(jwks=jwks_of(client_key)),
        require_pushed_authorization_requests=True,
    )
    token = signed(client_key, object_claims(AuthorizationRequest(client)))
    before = await snapshot(db)

    response = await auth_client.get(
        authorize_url(client.client_id, request=token, redirect_uri=REDIRECT_URI)
    )

    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?error=invalid_request"), location
    assert await snapshot(db) == before

    pushed = await push(auth_client, client_key, client, request=token)
    assert pushed.status_code == 201, pushed.text
