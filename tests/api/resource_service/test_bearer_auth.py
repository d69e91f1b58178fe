"""GET /api/v1/me behind bearer authentication: RFC 6750 §2.1, §3; RFC 8725; RFC 9068 §4."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.errors import PROTOCOL_TEXT_CHARACTERS
from shared.models import SigningKey
from tests.factories import TestClient, TestUser, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.challenges import RESOURCE_METADATA, parse_challenges
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.forge import (
    Forger,
    access_claims,
    flip_payload_char,
    unverified_claims,
    with_claims,
)

REALM = "myauth-api"


_PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def challenge_params(challenge: str) -> dict[str, str]:
    """The auth-params of a single `Bearer` challenge (RFC 7235 §2.1, RFC 6750 §3)."""
    scheme, _, rest = challenge.partition(" ")
    assert scheme == "Bearer", challenge
    return dict(_PARAM.findall(rest))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_bearer_error(
    response: httpx.Response, error: str, *, status: int, description: str, **extra: str
) -> None:
    """RFC 6750 §3.1: the body and the challenge name the same error; the realm is checked apart."""
    assert_oauth_error(response, error, status=status, description=description)
    params = challenge_params(response.headers["www-authenticate"])
    params.pop("realm", None)
    # RFC 9728 §5.1: every challenge says where the API's metadata is.
    assert params.pop("resource_metadata") == RESOURCE_METADATA
    assert params == {"error": error, "error_description": description, **extra}


def assert_invalid_token(response: httpx.Response, description: str) -> None:
    assert_bearer_error(response, "invalid_token", status=401, description=description)


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, name="Grace Hopper")


@pytest.fixture
def forger(settings: AuthSettings, signing_key: SigningKey) -> Forger:
    return Forger.from_key_dir(settings.key_dir, signing_key.kid)


@pytest.fixture
def claims(user: TestUser, clock: TestClock) -> dict[str, Any]:
    """Valid access-token claims for `user`; each test breaks one thing."""
    return access_claims(clock(), sub=user.id)


# --- baseline ------------------------------------------------------------------------------------


async def test_me_issued_access_token_returns_profile(
    resource_client: httpx.AsyncClient, user: TestUser, tokens: dict[str, Any]
) -> None:
    response = await resource_client.get("/api/v1/me", headers=_bearer(tokens["access_token"]))

    assert response.status_code == 200, response.text
    assert response.json() == {"id": user.id, "username": user.username, "name": "Grace Hopper"}


async def test_me_forged_token_with_valid_claims_and_real_key_is_accepted(
    resource_client: httpx.AsyncClient, forger: Forger, claims: dict[str, Any]
) -> None:
    # The control for every forgery below: the helper itself produces acceptable tokens.
    response = await resource_client.get("/api/v1/me", headers=_bearer(forger.sign(claims)))

    assert response.status_code == 200, response.text


# --- the Authorization header (RFC 6750 §2.1, §3.1) -----------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Basic xyz"], ids=["missing", "basic-scheme"])
async def test_me_without_bearer_credentials_returns_401_with_bare_challenge(
    resource_client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await resource_client.get("/api/v1/me", headers=headers)

    # RFC 6750 §3: no credentials, or an unsupported scheme, so no error code in the challenge.
    assert response.status_code == 401
    # RFC 9449 §7.1: a challenge for each scheme the API takes.
    # RFC 9728 §5.1: each names the metadata, which is how a client finds the issuer.
    assert parse_challenges(response.headers["www-authenticate"]) == [
        ("Bearer", {"realm": REALM, "resource_metadata": RESOURCE_METADATA}),
        (
            "DPoP",
            {
                "realm": REALM,
                "algs": "ES256 PS256 EdDSA RS256",
                "resource_metadata": RESOURCE_METADATA,
            },
        ),
    ]
    assert response.json() == {"error_description": "a bearer access token is required"}


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Bearer a b"],
    ids=["bearer-no-token", "bearer-blank-token", "bearer-two-tokens"],
)
async def test_me_malformed_authorization_header_returns_400_invalid_request(
    resource_client: httpx.AsyncClient, authorization: str
) -> None:
    response = await resource_client.get("/api/v1/me", headers={"Authorization": authorization})

    # RFC 6750 §3.1: a malformed Bearer header is invalid_request.
    assert_bearer_error(
        response,
        "invalid_request",
        status=400,
        description="the Authorization header must be 'Bearer <token>'",
    )


async def test_me_garbage_token_returns_401_invalid_token(
    resource_client: httpx.AsyncClient,
) -> None:
    response = await resource_client.get("/api/v1/me", headers=_bearer("not-a-jwt"))

    assert_invalid_token(response, "malformed token")


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic xyz", "Bearer not-a-jwt"],
    ids=["missing", "malformed", "invalid"],
)
async def test_me_every_bearer_challenge_names_the_same_realm(
    resource_client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = await resource_client.get("/api/v1/me", headers=headers)

    # RFC 7235 §2.2 / RFC 6750 §3: one protected resource, one protection space (realm).
    assert challenge_params(response.headers["www-authenticate"])["realm"] == REALM


# --- signature and header policy (RFC 8725 §2, §3.1, §3.10) ---------------------------------------


async def test_me_token_with_rewritten_payload_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    tampered = with_claims(tokens["access_token"], scope="openid profile email write:notes")

    response = await resource_client.get("/api/v1/me", headers=_bearer(tampered))

    assert_invalid_token(response, "token signature is invalid")


async def test_me_token_with_flipped_payload_char_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    tampered = flip_payload_char(tokens["access_token"])

    response = await resource_client.get("/api/v1/me", headers=_bearer(tampered))

    assert_invalid_token(response, "token signature is invalid")


async def test_me_token_with_alg_none_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, forger: Forger, claims: dict[str, Any]
) -> None:
    response = await resource_client.get("/api/v1/me", headers=_bearer(forger.unsigned(claims)))

    assert_invalid_token(response, "token algorithm is not allowed")


async def test_me_hs256_token_keyed_with_public_key_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, forger: Forger, claims: dict[str, Any]
) -> None:
    token = forger.hmac_with_public_key(claims)

    response = await resource_client.get("/api/v1/me", headers=_bearer(token))

    assert_invalid_token(response, "token algorithm is not allowed")


async def test_me_token_with_unknown_kid_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, forger: Forger, claims: dict[str, Any]
) -> None:
    token = forger.sign(claims, kid="not-a-published-kid")

    response = await resource_client.get("/api/v1/me", headers=_bearer(token))

    assert_invalid_token(response, "token was signed by an unknown key")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jwk", {"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("x5c", ["MIIB"]),
    ],
)
async def test_me_token_carrying_key_in_header_returns_401_invalid_token(
    resource_client: httpx.AsyncClient,
    forger: Forger,
    claims: dict[str, Any],
    name: str,
    value: Any,
) -> None:
    token = forger.sign(claims, **{name: value})

    response = await resource_client.get("/api/v1/me", headers=_bearer(token))

    assert_invalid_token(response, "token header must not carry keys")


async def test_me_token_with_crit_header_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, forger: Forger, claims: dict[str, Any]
) -> None:
    token = forger.sign(claims, crit=["exp-policy"], **{"exp-policy": "lenient"})

    response = await resource_client.get("/api/v1/me", headers=_bearer(token))

    # RFC 7515 §4.1.11: a critical extension we do not understand makes the JWS invalid.
    assert_invalid_token(response, "token header has critical extensions we do not understand")


# --- what the token is and who it is for (RFC 9068 §4) --------------------------------------------


async def test_me_id_token_as_access_token_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    response = await resource_client.get("/api/v1/me", headers=_bearer(tokens["id_token"]))

    assert_invalid_token(response, "token is not an access token")


async def test_me_id_token_shaped_claims_with_at_jwt_typ_still_refused_for_audience(
    resource_client: httpx.AsyncClient, tokens: dict[str, Any], forger: Forger
) -> None:
    # Even relabelled as at+jwt, an ID token's claims are for the client, not for this API.
    relabelled = forger.sign(unverified_claims(tokens["id_token"]))

    response = await resource_client.get("/api/v1/me", headers=_bearer(relabelled))

    assert_invalid_token(response, "token is not meant for this audience")


async def test_me_token_for_another_audience_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, forger: Forger, claims: dict[str, Any]
) -> None:
    token = forger.sign({**claims, "aud": "http://other-api.test"})

    response = await resource_client.get("/api/v1/me", headers=_bearer(token))

    assert_invalid_token(response, "token is not meant for this audience")


async def test_me_token_from_another_issuer_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, forger: Forger, claims: dict[str, Any]
) -> None:
    token = forger.sign({**claims, "iss": "http://evil.test"})

    response = await resource_client.get("/api/v1/me", headers=_bearer(token))

    assert_invalid_token(response, "token issuer is not trusted")


async def test_me_expired_token_beyond_leeway_returns_401_invalid_token(
    resource_client: httpx.AsyncClient,
    tokens: dict[str, Any],
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    clock.advance(settings.access_token_ttl + 30 + 2)

    response = await resource_client.get("/api/v1/me", headers=_bearer(tokens["access_token"]))

    assert_invalid_token(response, "token has expired")


async def test_me_token_accepted_once_is_refused_after_it_expires(
    resource_client: httpx.AsyncClient,
    tokens: dict[str, Any],
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    # The first request verifies and caches the token; the cache must not outlive exp + leeway.
    first = await resource_client.get("/api/v1/me", headers=_bearer(tokens["access_token"]))
    clock.advance(settings.access_token_ttl + 30 + 2)

    response = await resource_client.get("/api/v1/me", headers=_bearer(tokens["access_token"]))

    assert first.status_code == 200
    assert_invalid_token(response, "token has expired")


async def test_me_token_missing_client_id_returns_401_invalid_token(
    resource_client: httpx.AsyncClient, forger: Forger, claims: dict[str, Any]
) -> None:
    del claims["client_id"]

    response = await resource_client.get("/api/v1/me", headers=_bearer(forger.sign(claims)))

    # RFC 9068 §2.2: client_id is a required claim.
    assert_invalid_token(response, "token claims are malformed")


# --- authorization (RFC 6750 §3.1) and the resource ------------------------------------------------


async def test_me_token_without_profile_scope_returns_403_insufficient_scope(
    auth_client: httpx.AsyncClient,
    resource_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
) -> None:
    request = AuthorizationRequest(confidential_client, scope="openid email")
    tokens = await tokens_for(auth_client, request, user)

    response = await resource_client.get("/api/v1/me", headers=_bearer(tokens["access_token"]))

    assert_bearer_error(
        response,
        "insufficient_scope",
        status=403,
        description="the access token lacks the required scope",
        scope="profile",
    )


async def test_me_token_whose_sub_is_not_a_user_returns_404(
    resource_client: httpx.AsyncClient, forger: Forger, clock: TestClock
) -> None:
    # What a client_credentials token looks like: the subject is the client itself.
    claims = access_claims(clock(), sub="some-client-id", client_id="some-client-id")

    response = await resource_client.get("/api/v1/me", headers=_bearer(forger.sign(claims)))

    assert response.status_code == 404
    assert response.json() == {"detail": "no user profile for this token"}


# --- RFC 6750 §3: attribute values in the error_description character set --------------------

_VALUE = "[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*"
# RFC 9449 §7.1: a DPoP challenge may follow the Bearer one.
BEARER_CHALLENGE = re.compile(rf'Bearer \w+="{_VALUE}"(, (DPoP )?\w+="{_VALUE}")*')


@pytest.mark.parametrize(
    "case", ["missing", "malformed", "garbage", "expired", "wrong-audience", "no-scope"]
)
async def test_me_every_challenge_and_description_stays_in_the_rfc_6749_set(
    resource_client: httpx.AsyncClient,
    forger: Forger,
    claims: dict[str, Any],
    clock: TestClock,
    case: str,
) -> None:
    authorization = {
        "missing": None,
        "malformed": "Bearer a b",
        "garbage": "Bearer not-a-jwt",
        "expired": "Bearer " + forger.sign({**claims, "exp": int(clock().timestamp()) - 3600}),
        "wrong-audience": "Bearer " + forger.sign({**claims, "aud": "https://other.example"}),
        "no-scope": "Bearer " + forger.sign({**claims, "scope": "openid"}),
    }[case]
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = await resource_client.get("/api/v1/me", headers=headers)

    assert response.status_code in (400, 401, 403), response.text
    challenge = response.headers["www-authenticate"]
    assert BEARER_CHALLENGE.fullmatch(challenge), challenge
    assert "\\" not in challenge
    for value in response.json().values():
        assert PROTOCOL_TEXT_CHARACTERS.issuperset(value), value
