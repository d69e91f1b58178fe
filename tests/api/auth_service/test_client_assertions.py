"""JWT client authentication: private_key_jwt and client_secret_jwt (RFC 7523 §2.2, §3; OIDC
Core §9) at the token, introspection and revocation endpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.clients.registry import ClientKeys, ClientSpec, register_client
from auth_service.config import AuthSettings
from auth_service.main import create_app
from shared.models import UsedJti
from tests.conftest import ISSUER
from tests.factories import TestClient, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.assertions_jwt import (
    TOKEN_ENDPOINT,
    ClientKey,
    assertion_claims,
    assertion_form,
    jwks_of,
    new_client_key,
    sign_assertion,
)
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.forge import b64url, compact, with_claims
from tests.support.jwks_server import JwksServer, jwks_server
from tests.support.lifecycle import client_credentials, snapshot
from tests.support.services import require_redis

SCOPE = "read:notes"


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    settings.client_jwks_timeout = 0.5
    settings.client_jwks_refetch_interval = 60
    return settings


@pytest.fixture(scope="module")
def rsa_key() -> ClientKey:
    return new_client_key("RS256")


@pytest.fixture
def jwks_uri() -> Iterator[JwksServer]:
    with jwks_server() as server:
        yield server


async def key_client(
    db: Database, *, jwks: dict[str, Any] | None = None, jwks_uri: str | None = None
) -> TestClient:
    return await make_client(
        db,
        grant_types=["client_credentials"],
        scope=SCOPE,
        can_introspect=True,
        token_endpoint_auth_method="private_key_jwt",
        keys=ClientKeys(jwks=jwks, jwks_uri=jwks_uri),
    )


async def secret_jwt_client(db: Database, app: FastAPI) -> TestClient:
    spec = ClientSpec(
        name="HMAC App",
        redirect_uris=[],
        scope=SCOPE,
        grant_types=["client_credentials"],
        token_endpoint_auth_method="client_secret_jwt",
    )
    registered = await db.run(
        lambda repos: register_client(
            repos, spec, now=datetime.now(UTC), seal=app.state.secret_box.encrypt
        )
    )
    return TestClient(registered.client, registered.client_secret)


async def token(auth: httpx.AsyncClient, assertion: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": SCOPE, **extra}
    return await auth.post("/oauth/token", data={**data, **assertion_form(assertion)})


async def refused(
    auth_app: FastAPI, auth: httpx.AsyncClient, db: Database, assertion: str, description: str
) -> None:
    """401 invalid_client (RFC 6749 §5.2, RFC 7521 §4.2.1), no challenge, nothing stored."""
    await auth_app.state.audit_buffer.flush()
    before = await snapshot(db)
    response = await token(auth, assertion)
    assert_oauth_error(response, "invalid_client", status=401, description=description)
    assert "www-authenticate" not in response.headers
    await auth_app.state.audit_buffer.flush()
    after = await snapshot(db)
    after.pop("audit_event", None), before.pop("audit_event", None)
    assert after == before


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
async def test_private_key_jwt_each_allowed_algorithm_returns_a_token(
    auth_client: httpx.AsyncClient, db: Database, alg: str
) -> None:
    key = new_client_key(alg)
    client = await key_client(db, jwks=jwks_of(key))
    claims = assertion_claims(client.client_id)

    response = await token(auth_client, sign_assertion(key, claims))

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == SCOPE
    assert response.headers["cache-control"] == "no-store"
    # RFC 7523 §3 item 7: the jti is remembered until the assertion expires (plus leeway).
    (used,) = await db.all(UsedJti)
    assert abs(used.expires_at.timestamp() - (claims["exp"] + 30)) < 2


@pytest.mark.parametrize("aud", [TOKEN_ENDPOINT, [ISSUER, "https://other.example"]])
async def test_private_key_jwt_token_endpoint_url_or_audience_list_is_accepted(
    auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey, aud: Any
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    claims = assertion_claims(client.client_id, aud=aud)

    response = await token(auth_client, sign_assertion(rsa_key, claims))

    assert response.status_code == 200, response.text


async def test_private_key_jwt_without_kid_tries_the_registered_keys(
    auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    other = new_client_key("ES256")
    client = await key_client(db, jwks=jwks_of(other, rsa_key))
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id), kid=None)

    response = await token(auth_client, assertion)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"iss": "someone-else"}, "client assertion iss and sub must both be the client_id"),
        ({"aud": "https://other.example"}, "client assertion aud must be the issuer identifier"),
        (
            {"aud": f"{ISSUER}/oauth/introspect"},
            "client assertion aud must be the issuer identifier",
        ),
        ({"exp": None}, "client assertion has no exp"),
        ({"exp": int(time.time()) + 3600}, "client assertion exp is more than 5 minutes ahead"),
        ({"exp": int(time.time()) - 120}, "client assertion has expired"),
        ({"nbf": int(time.time()) + 600}, "client assertion is not valid yet"),
        ({"jti": None}, "client assertion has no jti"),
    ],
)
async def test_private_key_jwt_bad_claims_are_invalid_client_and_store_nothing(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    rsa_key: ClientKey,
    changes: dict[str, Any],
    description: str,
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id, **changes))

    await refused(auth_app, auth_client, db, assertion, description)


async def test_private_key_jwt_iss_and_sub_of_another_client_is_refused(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    other = await key_client(db, jwks=jwks_of(new_client_key("ES256")))
    # Signed with the first client's key, but naming the second as iss and sub.
    claims = assertion_claims(other.client_id)
    assert client.client_id != other.client_id

    await refused(
        auth_app,
        auth_client,
        db,
        sign_assertion(rsa_key, claims),
        "client assertion refused: token was not signed by a registered key",
    )


async def test_private_key_jwt_client_id_in_the_body_must_match_the_assertion(
    auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id))

    response = await token(auth_client, assertion, client_id="another-client")
    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description="client_id differs from the client assertion sub",
    )
    same = await token(auth_client, assertion, client_id=client.client_id)
    assert same.status_code == 200, same.text


async def test_private_key_jwt_replayed_jti_is_refused(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id))
    assert (await token(auth_client, assertion)).status_code == 200

    await refused(auth_app, auth_client, db, assertion, "client assertion jti was already used")
    assert await db.count(UsedJti) == 1


async def test_private_key_jwt_jti_is_single_use_across_two_instances_sharing_the_database(
    settings: AuthSettings,
    auth_client: httpx.AsyncClient,
    db: Database,
    rsa_key: ClientKey,
    clock: TestClock,
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id))
    assert (await token(auth_client, assertion)).status_code == 200

    second = create_app(settings, clock=clock)
    async with LifespanManager(second):
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as other:
            response = await token(other, assertion)
            fresh = await token(other, sign_assertion(rsa_key, assertion_claims(client.client_id)))

    assert_oauth_error(
        response, "invalid_client", status=401, description="client assertion jti was already used"
    )
    assert fresh.status_code == 200, fresh.text
    assert await db.count(UsedJti) == 2


async def test_private_key_jwt_alg_none_is_refused(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    unsigned = compact({"alg": "none", "kid": rsa_key.kid}, assertion_claims(client.client_id))

    await refused(
        auth_app,
        auth_client,
        db,
        unsigned,
        "client assertion refused: token algorithm is not allowed",
    )


async def test_private_key_jwt_client_sending_an_hs256_assertion_is_refused(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    # RFC 8725 §2.1: HMAC keyed by something public (here the modulus) must never verify.
    hmac_key = b64url(rsa_key.key.as_dict(private=False)["n"].encode())
    assertion = sign_assertion(None, assertion_claims(client.client_id), secret=hmac_key)

    await refused(auth_app, auth_client, db, assertion, "client authentication failed")


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://attacker.example/jwks"},
        {"x5u": "https://attacker.example/cert"},
        {"crit": ["exp"], "exp": 1},
    ],
)
async def test_private_key_jwt_header_carrying_keys_or_crit_is_refused(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    rsa_key: ClientKey,
    header: dict[str, Any],
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    try:
        assertion = sign_assertion(rsa_key, assertion_claims(client.client_id), **header)
    except Exception:  # noqa: BLE001 - joserfc refuses to write some headers; forge it then
        assertion = _forged_with_header(rsa_key, client.client_id, header)
    reason = "critical extensions we do not understand" if "crit" in header else "carry keys"
    response = await token(auth_client, assertion)

    assert_oauth_error(response, "invalid_client", status=401)
    assert reason in response.json()["error_description"]


def _forged_with_header(key: ClientKey, client_id: str, header: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    protected = {"alg": "RS256", "kid": key.kid, **header}
    unsigned = compact(protected, assertion_claims(client_id))[:-1]
    private = key.key.private_key
    signature = private.sign(unsigned.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    return unsigned + "." + b64url(signature)


async def test_private_key_jwt_embedded_jwk_header_is_refused(
    auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assertion = _forged_with_header(rsa_key, client.client_id, {"jwk": rsa_key.public_jwk})

    response = await token(auth_client, assertion)

    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description="client assertion refused: token header must not carry keys",
    )


async def test_private_key_jwt_wrong_assertion_type_is_invalid_client(
    auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id))
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        "client_assertion": assertion,
    }

    response = await auth_client.post("/oauth/token", data=data)

    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description=(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ),
    )


async def test_private_key_jwt_with_a_client_secret_too_is_invalid_request(
    auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id))

    response = await token(auth_client, assertion, client_secret="x" * 43)

    # RFC 6749 §2.3: one authentication method per request.
    assert_oauth_error(
        response,
        "invalid_request",
        description="use either client_secret in the body or client_assertion, not both",
    )


async def test_client_registered_for_secrets_cannot_use_an_assertion(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await make_client(db, grant_types=["client_credentials"], scope=SCOPE)
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id))

    await refused(auth_app, auth_client, db, assertion, "client authentication failed")


async def test_private_key_jwt_client_cannot_use_a_secret(
    auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assert client.secret is None  # RFC 7591 §3.2.1: it proves itself with its keys

    response = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, "a" * 43),
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert response.headers["www-authenticate"].startswith("Basic ")


async def test_private_key_jwt_from_jwks_uri_unknown_kid_triggers_one_refetch(
    auth_client: httpx.AsyncClient, db: Database, jwks_uri: JwksServer, rsa_key: ClientKey
) -> None:
    rotated = new_client_key("ES256")
    jwks_uri.jwks = jwks_of(rsa_key)
    client = await key_client(db, jwks_uri=jwks_uri.url)

    first = await token(auth_client, sign_assertion(rsa_key, assertion_claims(client.client_id)))
    again = await token(auth_client, sign_assertion(rsa_key, assertion_claims(client.client_id)))
    assert (first.status_code, again.status_code, jwks_uri.hits) == (200, 200, 1)

    jwks_uri.jwks = jwks_of(rsa_key, rotated)  # the client adds a key and signs with it
    response = await token(auth_client, sign_assertion(rotated, assertion_claims(client.client_id)))
    assert response.status_code == 200, response.text
    assert jwks_uri.hits == 2

    # Another unknown kid within the refetch interval: no fetch, refused.
    unknown = new_client_key("ES256")
    response = await token(auth_client, sign_assertion(unknown, assertion_claims(client.client_id)))
    assert_oauth_error(
        response,
        "invalid_client",
        status=401,
        description="client assertion refused: token was not signed by a registered key",
    )
    assert jwks_uri.hits == 2


@pytest.mark.parametrize("failure", ["timeout", "oversize", "status", "not json"])
async def test_private_key_jwt_unusable_jwks_uri_is_invalid_client_not_500(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    jwks_uri: JwksServer,
    rsa_key: ClientKey,
    failure: str,
) -> None:
    jwks_uri.jwks = jwks_of(rsa_key)
    if failure == "timeout":
        jwks_uri.delay = 2.0  # AUTH_CLIENT_JWKS_TIMEOUT is 0.5 s here
    elif failure == "oversize":
        jwks_uri.padding = 70 * 1024  # above the 64 KiB default limit
    elif failure == "status":
        jwks_uri.status = 500
    else:
        jwks_uri.jwks = ["not", "a", "set"]  # type: ignore[assignment]
    client = await key_client(db, jwks_uri=jwks_uri.url)

    await refused(
        auth_app,
        auth_client,
        db,
        sign_assertion(rsa_key, assertion_claims(client.client_id)),
        "the client's keys could not be fetched",
    )
    assert jwks_uri.hits == 1


async def test_private_key_jwt_at_introspection_and_revocation(
    auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    issued = await token(auth_client, sign_assertion(rsa_key, assertion_claims(client.client_id)))
    access_token = issued.json()["access_token"]

    def form(**data: str) -> dict[str, str]:
        assertion = sign_assertion(rsa_key, assertion_claims(client.client_id))
        return {**data, **assertion_form(assertion)}

    active = await auth_client.post("/oauth/introspect", data=form(token=access_token))
    assert active.status_code == 200, active.text
    assert active.json()["active"] is True
    revoked = await auth_client.post("/oauth/revoke", data=form(token=access_token))
    assert revoked.status_code == 200, revoked.text
    after = await auth_client.post("/oauth/introspect", data=form(token=access_token))
    assert after.json() == {"active": False}

    replay = sign_assertion(rsa_key, assertion_claims(client.client_id))
    assert (
        await auth_client.post(
            "/oauth/revoke", data={"token": access_token, **assertion_form(replay)}
        )
    ).status_code == 200
    for path in ("/oauth/introspect", "/oauth/revoke"):
        response = await auth_client.post(
            path, data={"token": access_token, **assertion_form(replay)}
        )
        assert_oauth_error(
            response,
            "invalid_client",
            status=401,
            description="client assertion jti was already used",
        )


async def test_client_secret_jwt_hs256_with_the_client_secret_returns_a_token(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database
) -> None:
    client = await secret_jwt_client(db, auth_app)
    assert client.secret is not None
    stored = await db.get(type(client.client), client.client_id)
    assert stored is not None and stored.client_secret_encrypted
    assert client.secret not in stored.client_secret_encrypted  # encrypted at rest

    response = await token(
        auth_client, sign_assertion(None, assertion_claims(client.client_id), secret=client.secret)
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("secret", "alg", "description"),
    [
        ("w" * 43, "HS256", "client assertion refused: token signature is invalid"),
        (None, "HS512", "client assertion refused: token algorithm is not allowed"),
    ],
)
async def test_client_secret_jwt_wrong_secret_or_algorithm_is_refused(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    secret: str | None,
    alg: str,
    description: str,
) -> None:
    client = await secret_jwt_client(db, auth_app)
    assertion = sign_assertion(
        None, assertion_claims(client.client_id), secret=secret or client.secret, alg=alg
    )

    await refused(auth_app, auth_client, db, assertion, description)


async def test_client_secret_jwt_client_cannot_use_basic_or_an_rsa_assertion(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await secret_jwt_client(db, auth_app)
    basic = await client_credentials(auth_client, client, scope=SCOPE, method="client_secret_basic")
    assert_oauth_error(basic, "invalid_client", status=401)

    await refused(
        auth_app,
        auth_client,
        db,
        sign_assertion(rsa_key, assertion_claims(client.client_id)),
        "client authentication failed",
    )


async def test_client_secret_jwt_rotated_secret_is_the_new_hmac_key(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database
) -> None:
    from auth_service.clients.registry import rotate_client_secret

    client = await secret_jwt_client(db, auth_app)
    new_secret = await db.run(
        lambda repos: rotate_client_secret(
            repos, client.client, now=datetime.now(UTC), seal=auth_app.state.secret_box.encrypt
        )
    )
    auth_app.state.client_cache.invalidate(client.client_id)

    old = await token(
        auth_client, sign_assertion(None, assertion_claims(client.client_id), secret=client.secret)
    )
    new = await token(
        auth_client, sign_assertion(None, assertion_claims(client.client_id), secret=new_secret)
    )

    assert_oauth_error(old, "invalid_client", status=401)
    assert new.status_code == 200, new.text


async def test_discovery_lists_the_jwt_methods_and_their_algorithms(
    auth_client: httpx.AsyncClient,
) -> None:
    metadata = (await auth_client.get("/.well-known/openid-configuration")).json()

    for endpoint in ("token", "revocation", "introspection"):
        methods = metadata[f"{endpoint}_endpoint_auth_methods_supported"]
        assert {"private_key_jwt", "client_secret_jwt"} <= set(methods)
        assert metadata[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] == [
            "RS256",
            "PS256",
            "ES256",
            "EdDSA",
            "HS256",
        ]


async def test_private_key_jwt_jti_is_single_use_across_two_instances_sharing_redis(
    settings: AuthSettings, db: Database, rsa_key: ClientKey, clock: TestClock
) -> None:
    with_redis = settings.model_copy(update={"redis_url": require_redis()})
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id))
    statuses = []
    for _ in range(2):
        app = create_app(with_redis, clock=clock)
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as instance:
                response = await token(instance, assertion)
                statuses.append(response.status_code)

    assert statuses == [200, 401]
    assert response.json()["error_description"] == "client assertion jti was already used"
    assert await db.count(UsedJti) == 0  # with Redis, the jti is kept there, not in the table


async def test_private_key_jwt_tampered_payload_is_refused(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, rsa_key: ClientKey
) -> None:
    client = await key_client(db, jwks=jwks_of(rsa_key))
    assertion = sign_assertion(rsa_key, assertion_claims(client.client_id))

    await refused(
        auth_app,
        auth_client,
        db,
        with_claims(assertion, exp=int(time.time()) + 200),
        "client assertion refused: token signature is invalid",
    )
