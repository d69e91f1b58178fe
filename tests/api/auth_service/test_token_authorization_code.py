"""POST /oauth/token with grant_type=authorization_code: RFC 6749 §2.3, §3.2, §4.1.3, §5; RFC 7636."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.oauth.tokens import at_hash
from auth_service.security.secrets import hash_token
from shared.models import AuthorizationCode, Grant, RefreshToken
from shared.tokens import load_public_jwk, verify_signature
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, TestUser, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, exchange_code, get_code
from tests.support.forge import unverified_header
from tests.support.token_endpoint import post_token, refresh

BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'


@pytest.fixture
def auth_request(confidential_client: TestClient) -> AuthorizationRequest:
    return AuthorizationRequest(confidential_client, scope="openid profile")


async def _code_row(db: Database, code: str) -> AuthorizationCode:
    row = await db.get(AuthorizationCode, hash_token(code))
    assert row is not None
    return row


async def _jwks_key(auth_client: httpx.AsyncClient, kid: str) -> Any:
    jwks = (await auth_client.get("/.well-known/jwks.json")).json()
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == kid]
    return load_public_jwk(jwk, "RS256")


def _code_data(code: str, request: AuthorizationRequest) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.verifier,
    }


# --- success -------------------------------------------------------------------------------------


async def test_token_authorization_code_valid_code_returns_token_set_with_no_store(
    auth_client: httpx.AsyncClient, auth_request: AuthorizationRequest, user: TestUser
) -> None:
    code = await get_code(auth_client, auth_request, user)

    response = await exchange_code(auth_client, auth_request, code)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "id_token",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "openid profile"
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43
    # RFC 6749 §5.1
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_token_authorization_code_access_token_is_rfc9068_jwt_verifiable_with_jwks(
    auth_client: httpx.AsyncClient,
    db: Database,
    auth_request: AuthorizationRequest,
    user: TestUser,
    signing_key: Any,
) -> None:
    code = await get_code(auth_client, auth_request, user)
    body = (await exchange_code(auth_client, auth_request, code)).json()
    access_token = body["access_token"]

    header = unverified_header(access_token)
    claims = verify_signature(access_token, await _jwks_key(auth_client, signing_key.kid), "RS256")

    # RFC 9068 §2.1
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": signing_key.kid}
    (grant,) = await db.all(Grant, Grant.client_id == auth_request.client.client_id)
    assert set(claims) == {
        "iss",
        "sub",
        "aud",
        "client_id",
        "scope",
        "iat",
        "exp",
        "jti",
        "grant_id",
        "auth_time",
    }
    assert claims["iss"] == ISSUER
    assert claims["sub"] == user.id
    assert claims["aud"] == AUDIENCE
    assert claims["client_id"] == auth_request.client.client_id
    assert claims["scope"] == "openid profile"
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert claims["grant_id"] == grant.id


async def test_token_authorization_code_openid_scope_returns_id_token_bound_to_request(
    auth_client: httpx.AsyncClient,
    auth_request: AuthorizationRequest,
    user: TestUser,
    signing_key: Any,
) -> None:
    code = await get_code(auth_client, auth_request, user)
    body = (await exchange_code(auth_client, auth_request, code)).json()
    id_token = body["id_token"]

    header = unverified_header(id_token)
    claims = verify_signature(id_token, await _jwks_key(auth_client, signing_key.kid), "RS256")

    assert header == {"alg": "RS256", "typ": "JWT", "kid": signing_key.kid}
    # OIDC Core §2, §3.1.3.6
    assert claims["iss"] == ISSUER
    assert claims["sub"] == user.id
    assert claims["aud"] == auth_request.client.client_id
    assert claims["nonce"] == auth_request.nonce
    assert claims["at_hash"] == at_hash(body["access_token"])


async def test_token_authorization_code_without_openid_scope_returns_no_id_token(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client, scope="profile")
    code = await get_code(auth_client, request, user)

    response = await exchange_code(auth_client, request, code)

    assert response.status_code == 200, response.text
    assert "id_token" not in response.json()
    assert response.json()["scope"] == "profile"


async def test_token_authorization_code_client_without_refresh_grant_gets_no_refresh_token(
    auth_client: httpx.AsyncClient, db: Database, user: TestUser
) -> None:
    client = await make_client(db, grant_types=["authorization_code"])
    request = AuthorizationRequest(client)
    code = await get_code(auth_client, request, user)

    response = await exchange_code(auth_client, request, code)

    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    assert await db.count(RefreshToken) == 0


# --- client authentication (RFC 6749 §2.3, §5.2) --------------------------------------------------


async def test_token_authorization_code_client_secret_post_returns_tokens(
    auth_client: httpx.AsyncClient, auth_request: AuthorizationRequest, user: TestUser
) -> None:
    code = await get_code(auth_client, auth_request, user)

    response = await post_token(
        auth_client,
        auth_request.client,
        _code_data(code, auth_request),
        method="client_secret_post",
    )

    assert response.status_code == 200, response.text


async def test_token_authorization_code_basic_with_matching_body_client_id_returns_tokens(
    auth_client: httpx.AsyncClient, auth_request: AuthorizationRequest, user: TestUser
) -> None:
    code = await get_code(auth_client, auth_request, user)
    data = {**_code_data(code, auth_request), "client_id": auth_request.client.client_id}

    response = await post_token(
        auth_client, auth_request.client, data, method="client_secret_basic"
    )

    assert response.status_code == 200, response.text


async def test_token_authorization_code_public_client_with_client_id_only_returns_tokens(
    auth_client: httpx.AsyncClient, public_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(public_client)
    code = await get_code(auth_client, request, user)

    response = await post_token(
        auth_client, public_client, _code_data(code, request), method="none"
    )

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


async def test_token_authorization_code_basic_wrong_secret_returns_401_with_basic_challenge(
    auth_client: httpx.AsyncClient, auth_request: AuthorizationRequest, user: TestUser, db: Database
) -> None:
    code = await get_code(auth_client, auth_request, user)

    response = await auth_client.post(
        "/oauth/token",
        data=_code_data(code, auth_request),
        auth=(auth_request.client.client_id, "not-the-secret"),
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE
    assert (await _code_row(db, code)).used_at is None


async def test_token_authorization_code_basic_unknown_client_returns_401_with_basic_challenge(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x"},
        auth=("no-such-client", "secret"),
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE


async def test_token_authorization_code_post_wrong_secret_returns_401_without_challenge(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": confidential_client.client_id,
            "client_secret": "not-the-secret",
        },
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert "www-authenticate" not in response.headers


async def test_token_authorization_code_post_unknown_client_returns_401_without_challenge(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": "no-such-client",
            "client_secret": "secret",
        },
    )

    assert_oauth_error(response, "invalid_client", status=401)
    assert "www-authenticate" not in response.headers


async def test_token_authorization_code_confidential_client_without_secret_returns_401(
    auth_client: httpx.AsyncClient, auth_request: AuthorizationRequest, user: TestUser, db: Database
) -> None:
    code = await get_code(auth_client, auth_request, user)

    response = await post_token(
        auth_client, auth_request.client, _code_data(code, auth_request), method="none"
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert "www-authenticate" not in response.headers
    assert (await _code_row(db, code)).used_at is None


async def test_token_authorization_code_no_client_credentials_at_all_returns_401(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.post(
        "/oauth/token", data={"grant_type": "authorization_code", "code": "x"}
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication is required"
    )


async def test_token_authorization_code_basic_and_body_secret_returns_invalid_request(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # RFC 6749 §2.3: a client must not use more than one authentication method per request.
    response = await auth_client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_secret": confidential_client.secret,
        },
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(
        response,
        "invalid_request",
        description="use either HTTP Basic or client_secret in the body, not both",
    )


async def test_token_authorization_code_body_client_id_differs_from_basic_returns_invalid_request(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "client_id": "someone-else"},
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(
        response,
        "invalid_request",
        description="client_id in the body differs from the Authorization header",
    )


@pytest.mark.parametrize(
    "credentials",
    ["not base64!", "Zm9v", "OnNlY3JldA==", "//79/A=="],
    ids=["not-base64", "no-colon", "empty-client-id", "not-utf8"],
)
async def test_token_authorization_code_malformed_basic_returns_401_with_challenge(
    auth_client: httpx.AsyncClient, credentials: str
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers={"Authorization": f"Basic {credentials}"},
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="malformed Basic credentials"
    )
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE


# --- request shape (RFC 6749 §3.2) ----------------------------------------------------------------


async def test_token_authorization_code_duplicated_parameter_returns_invalid_request(
    auth_client: httpx.AsyncClient, auth_request: AuthorizationRequest, user: TestUser, db: Database
) -> None:
    code = await get_code(auth_client, auth_request, user)
    body = (
        f"grant_type=authorization_code&code={code}&code={code}"
        f"&redirect_uri={auth_request.redirect_uri}&code_verifier={auth_request.verifier}"
    )

    # RFC 6749 §3.2: request parameters must not be included more than once.
    response = await auth_client.post(
        "/oauth/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=auth_request.client.basic_auth(),
    )

    assert_oauth_error(
        response, "invalid_request", description="parameter code was sent more than once"
    )
    assert (await _code_row(db, code)).used_at is None


async def test_token_authorization_code_json_body_returns_invalid_request(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        json={"grant_type": "authorization_code", "code": "x"},
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(
        response,
        "invalid_request",
        description="the request body must be application/x-www-form-urlencoded",
    )


@pytest.mark.parametrize(
    "body",
    [b"grant_type=authorization_code&code=\xff\xfe", b"grant_type=authorization_code&code=%FF%FE"],
    ids=["raw-bytes", "percent-encoded"],
)
async def test_token_authorization_code_non_utf8_body_returns_invalid_request(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, body: bytes
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(
        response, "invalid_request", description="the request body is not valid UTF-8 form data"
    )


async def test_token_authorization_code_body_over_64_kib_returns_413(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x" * (64 * 1024 + 1)},
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(
        response, "invalid_request", status=413, description="request body is too large"
    )


async def test_token_authorization_code_streamed_body_over_64_kib_returns_413(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    async def chunks() -> Any:
        yield b"grant_type=authorization_code&code="
        for _ in range(17):
            yield b"x" * 4096

    # No Content-Length: the limit must hold while the body is read, not only from the header.
    response = await auth_client.post(
        "/oauth/token",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(
        response, "invalid_request", status=413, description="request body is too large"
    )


async def test_token_authorization_code_missing_grant_type_returns_invalid_request(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await post_token(auth_client, confidential_client, {"code": "x"})

    assert_oauth_error(response, "invalid_request", description="grant_type is required")


async def test_token_unknown_grant_type_returns_unsupported_grant_type(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await post_token(auth_client, confidential_client, {"grant_type": "implicit"})

    assert_oauth_error(
        response,
        "unsupported_grant_type",
        description="grant_type 'implicit' is not supported",
    )


async def test_token_grant_not_registered_for_client_returns_unauthorized_client(
    auth_client: httpx.AsyncClient, db: Database
) -> None:
    client = await make_client(db, grant_types=["authorization_code"])

    response = await post_token(
        auth_client, client, {"grant_type": "refresh_token", "refresh_token": "x"}
    )

    assert_oauth_error(
        response,
        "unauthorized_client",
        description="this client may not use grant_type=refresh_token",
    )


async def test_token_authorization_code_missing_code_returns_invalid_request(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await post_token(
        auth_client, confidential_client, {"grant_type": "authorization_code"}
    )

    assert_oauth_error(response, "invalid_request", description="code is required")


async def test_token_authorization_code_unknown_code_returns_invalid_grant(
    auth_client: httpx.AsyncClient, auth_request: AuthorizationRequest
) -> None:
    response = await exchange_code(auth_client, auth_request, "no-such-code")

    assert_oauth_error(response, "invalid_grant", description="authorization code is invalid")


# --- code rules (RFC 6749 §4.1.2, §4.1.3; RFC 7636 §4.6; RFC 9700 §2.1.1, §4.8) -------------------


async def test_token_authorization_code_reused_code_returns_invalid_grant_and_revokes_family(
    auth_client: httpx.AsyncClient, db: Database, auth_request: AuthorizationRequest, user: TestUser
) -> None:
    code = await get_code(auth_client, auth_request, user)
    first = await exchange_code(auth_client, auth_request, code)
    assert first.status_code == 200, first.text

    second = await exchange_code(auth_client, auth_request, code)

    # RFC 6749 §4.1.2: the second use is refused and what the first obtained is revoked.
    assert_oauth_error(second, "invalid_grant", description="authorization code was already used")
    (grant,) = await db.all(Grant, Grant.client_id == auth_request.client.client_id)
    assert grant.revoked_at is not None
    (token,) = await db.all(RefreshToken, RefreshToken.grant_id == grant.id)
    assert token.revoked_at is not None
    after = await refresh(auth_client, auth_request.client, first.json()["refresh_token"])
    assert_oauth_error(after, "invalid_grant", description="refresh token was revoked")


async def test_token_authorization_code_other_clients_code_returns_invalid_grant_and_keeps_code(
    auth_client: httpx.AsyncClient, db: Database, auth_request: AuthorizationRequest, user: TestUser
) -> None:
    code = await get_code(auth_client, auth_request, user)
    other = await make_client(db)

    response = await post_token(auth_client, other, _code_data(code, auth_request))

    # RFC 6749 §4.1.3: the code must have been issued to the authenticated client.
    assert_oauth_error(response, "invalid_grant", description="authorization code is invalid")
    assert (await _code_row(db, code)).used_at is None
    # Not used up: a stranger presenting it must not let them burn the rightful client's code.
    owner = await exchange_code(auth_client, auth_request, code)
    assert owner.status_code == 200, owner.text


async def test_token_authorization_code_expired_code_returns_invalid_grant(
    auth_client: httpx.AsyncClient,
    auth_request: AuthorizationRequest,
    user: TestUser,
    clock: TestClock,
) -> None:
    code = await get_code(auth_client, auth_request, user)
    clock.advance(61)

    response = await exchange_code(auth_client, auth_request, code)

    assert_oauth_error(response, "invalid_grant", description="authorization code has expired")


async def test_token_authorization_code_used_then_expired_replay_still_revokes_the_first_use(
    auth_client: httpx.AsyncClient,
    db: Database,
    auth_request: AuthorizationRequest,
    user: TestUser,
    clock: TestClock,
) -> None:
    # RFC 6749 §4.1.2: a second use revokes what the first obtained, however late it comes.
    code = await get_code(auth_client, auth_request, user)
    first = await exchange_code(auth_client, auth_request, code)
    clock.advance(61)

    replay = await exchange_code(auth_client, auth_request, code)

    assert first.status_code == 200
    assert_oauth_error(replay, "invalid_grant", description="authorization code was already used")
    (grant,) = await db.all(Grant)
    assert grant.revoked_at is not None


async def test_token_authorization_code_within_lifetime_is_accepted(
    auth_client: httpx.AsyncClient,
    auth_request: AuthorizationRequest,
    user: TestUser,
    clock: TestClock,
) -> None:
    code = await get_code(auth_client, auth_request, user)
    clock.advance(55)

    response = await exchange_code(auth_client, auth_request, code)

    assert response.status_code == 200, response.text


async def test_token_authorization_code_wrong_redirect_uri_returns_invalid_grant_and_uses_code(
    auth_client: httpx.AsyncClient, db: Database, auth_request: AuthorizationRequest, user: TestUser
) -> None:
    code = await get_code(auth_client, auth_request, user)

    response = await exchange_code(
        auth_client, auth_request, code, redirect_uri="https://client.example/other"
    )

    assert_oauth_error(
        response,
        "invalid_grant",
        description="redirect_uri does not match the authorization request",
    )
    assert (await _code_row(db, code)).used_at is not None
    retry = await exchange_code(auth_client, auth_request, code)
    assert_oauth_error(retry, "invalid_grant", description="authorization code was already used")


async def test_token_authorization_code_missing_redirect_uri_returns_invalid_grant(
    auth_client: httpx.AsyncClient, auth_request: AuthorizationRequest, user: TestUser
) -> None:
    code = await get_code(auth_client, auth_request, user)

    # RFC 6749 §4.1.3: required when the authorization request included it.
    response = await exchange_code(auth_client, auth_request, code, redirect_uri=None)

    assert_oauth_error(
        response,
        "invalid_grant",
        description="redirect_uri does not match the authorization request",
    )


async def test_token_authorization_code_wrong_verifier_returns_invalid_grant_and_uses_code(
    auth_client: httpx.AsyncClient, db: Database, auth_request: AuthorizationRequest, user: TestUser
) -> None:
    code = await get_code(auth_client, auth_request, user)
    wrong_verifier = AuthorizationRequest(auth_request.client).verifier

    response = await exchange_code(auth_client, auth_request, code, code_verifier=wrong_verifier)

    assert_oauth_error(
        response,
        "invalid_grant",
        description="code_verifier does not match the code_challenge",
    )
    assert (await _code_row(db, code)).used_at is not None
    # RFC 9700 §4.8: one guess per code; the right verifier afterwards is too late.
    retry = await exchange_code(auth_client, auth_request, code)
    assert_oauth_error(retry, "invalid_grant", description="authorization code was already used")


async def test_token_authorization_code_missing_verifier_returns_invalid_grant(
    auth_client: httpx.AsyncClient, db: Database, auth_request: AuthorizationRequest, user: TestUser
) -> None:
    code = await get_code(auth_client, auth_request, user)

    response = await exchange_code(auth_client, auth_request, code, code_verifier=None)

    assert_oauth_error(response, "invalid_grant", description="code_verifier is required")
    assert (await _code_row(db, code)).used_at is not None


async def test_token_authorization_code_verifier_for_code_without_challenge_returns_invalid_grant(
    auth_client: httpx.AsyncClient, db: Database, user: TestUser
) -> None:
    client = await make_client(db, require_pkce=False)
    request = AuthorizationRequest(
        client, extra={"code_challenge": None, "code_challenge_method": None}
    )
    code = await get_code(auth_client, request, user)
    assert (await _code_row(db, code)).code_challenge is None

    response = await exchange_code(auth_client, request, code)

    # RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade.
    assert_oauth_error(
        response,
        "invalid_grant",
        description="code_verifier sent for a code issued without code_challenge",
    )
    assert (await _code_row(db, code)).used_at is not None


async def test_token_authorization_code_code_without_challenge_and_no_verifier_is_accepted(
    auth_client: httpx.AsyncClient, db: Database, user: TestUser
) -> None:
    client = await make_client(db, require_pkce=False)
    request = AuthorizationRequest(
        client, extra={"code_challenge": None, "code_challenge_method": None}
    )
    code = await get_code(auth_client, request, user)

    response = await exchange_code(auth_client, request, code, code_verifier=None)

    assert response.status_code == 200, response.text
