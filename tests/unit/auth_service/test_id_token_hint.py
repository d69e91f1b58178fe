"""The earliest acceptable auth_time of an authorization request (OIDC Core §3.1.2.1, §3.1.2.6)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auth_service.oauth.authorize.request import AuthorizationRedirectError, AuthorizationRequest
from auth_service.oauth.id_token_hint import validate_min_auth_time
from auth_service.security.keys import NewKey, new_signing_key
from shared.models import UserSession
from shared.tokens import JoseKey, load_public_jwk
from tests.support.forge import Forger

ISSUER = "http://auth.test"
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SIGNED_IN = "user-1"
REQUEST = AuthorizationRequest(
    client_id="client-1",
    redirect_uri="https://client.example/callback",
    redirect_uri_given=True,
    scopes=frozenset({"openid"}),
    state="state-1",
    nonce=None,
    code_challenge=None,
    code_challenge_method=None,
    prompt=frozenset(),
    max_age=None,
    login_hint=None,
)


class OneKey:
    """VerificationKeys holding one public key."""

    def __init__(self, key: NewKey) -> None:
        self.kid, self.public = key.kid, load_public_jwk(key.public_jwk, "RS256")

    async def get_verification_key(self, kid: str) -> tuple[str, JoseKey] | None:
        return ("RS256", self.public) if kid == self.kid else None


@pytest.fixture(scope="module")
def signing_key() -> NewKey:
    return new_signing_key("RS256")


@pytest.fixture(scope="module")
def forger(signing_key: NewKey) -> Forger:
    return Forger.from_pem(signing_key.kid, signing_key.pem)


def session() -> UserSession:
    return UserSession(
        id_hash="0" * 64,
        user_id=SIGNED_IN,
        created_at=NOW - timedelta(hours=1),
        auth_time=NOW - timedelta(hours=1),
        expires_at=NOW + timedelta(hours=1),
    )


def id_token(forger: Forger, sub: str) -> str:
    iat = int((NOW - timedelta(days=1)).timestamp())  # expired hints are fine (§3.1.2.1)
    claims: dict[str, Any] = {"iss": ISSUER, "sub": sub, "aud": "client-1", "iat": iat}
    return forger.sign({**claims, "exp": iat + 300}, typ="JWT")


async def min_auth_time(
    signing_key: NewKey,
    params: dict[str, str],
    *,
    request: AuthorizationRequest = REQUEST,
    signed_in: bool = True,
) -> datetime | None:
    return await validate_min_auth_time(
        params,
        request,
        session() if signed_in else None,
        keys=OneKey(signing_key),
        issuer=ISSUER,
        now=NOW,
    )


async def test_min_auth_time_without_hint_prompt_or_max_age_is_none(signing_key: NewKey) -> None:
    assert await min_auth_time(signing_key, {}) is None


async def test_min_auth_time_max_age_is_that_long_ago(signing_key: NewKey) -> None:
    request = replace(REQUEST, max_age=600)

    assert await min_auth_time(signing_key, {}, request=request) == NOW - timedelta(seconds=600)


async def test_min_auth_time_hint_for_the_signed_in_user_keeps_the_request_rule(
    signing_key: NewKey, forger: Forger
) -> None:
    params = {"id_token_hint": id_token(forger, SIGNED_IN)}
    request = replace(REQUEST, max_age=600)

    assert await min_auth_time(signing_key, params) is None
    assert await min_auth_time(signing_key, params, request=request) == NOW - timedelta(seconds=600)


@pytest.mark.parametrize("signed_in", [True, False], ids=["someone-else", "nobody"])
async def test_min_auth_time_hint_for_another_user_demands_a_login_now(
    signing_key: NewKey, forger: Forger, signed_in: bool
) -> None:
    params = {"id_token_hint": id_token(forger, "user-2")}

    assert await min_auth_time(signing_key, params, signed_in=signed_in) == NOW


async def test_min_auth_time_hint_for_another_user_with_prompt_none_returns_login_required(
    signing_key: NewKey, forger: Forger
) -> None:
    params = {"id_token_hint": id_token(forger, "user-2")}
    request = replace(REQUEST, prompt=frozenset({"none"}))

    with pytest.raises(AuthorizationRedirectError) as caught:
        await min_auth_time(signing_key, params, request=request)

    assert caught.value.error.to_dict() == {
        "error": "login_required",
        "error_description": "the user named by id_token_hint is not logged in",
    }
    assert (caught.value.redirect_uri, caught.value.state) == (REQUEST.redirect_uri, "state-1")
    assert caught.value.confirm is False


async def test_min_auth_time_hint_we_did_not_issue_returns_invalid_request(
    signing_key: NewKey,
) -> None:
    stranger = new_signing_key("RS256")
    params = {"id_token_hint": id_token(Forger.from_pem(stranger.kid, stranger.pem), SIGNED_IN)}
    request = replace(REQUEST, client_vetted=False)

    with pytest.raises(AuthorizationRedirectError) as caught:
        await min_auth_time(signing_key, params, request=request)

    assert caught.value.error.to_dict() == {
        "error": "invalid_request",
        "error_description": "id_token_hint is not an ID token we issued",
    }
    assert caught.value.confirm is True
