"""Mainstream relying-party libraries against the live services, configured only by discovery.

Authlib (Python) and openid-client v6 / oauth4webapi (Node) each run the whole OpenID Connect
flow: authorization code + PKCE + nonce, token, ID token validation against the JWKS, userinfo,
refresh, revocation and RP-initiated logout. The negative cases prove the libraries' checks bite.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt as joserfc_jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from auth_service.security.keys import new_signing_key
from shared.tokens import load_private_key, sign
from tests.support.databases import fresh_database
from tests.support.flows import csrf_from
from tests.support.live import LiveStack, live_stack
from tests.support.node import require_node, run_rp

pytestmark = pytest.mark.e2e

REDIRECT_URI = "http://127.0.0.1:9/callback"
POST_LOGOUT_URI = "http://127.0.0.1:9/signed-out"
SCOPE = "openid profile email offline_access"


class RelyingParty:
    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack
        stack.cli("users", "create", "--username", "oidc-user", "--password", "oidc-password-1",
                  "--email", "oidc@example.com", "--name", "Olive Idc")  # fmt: skip
        created = stack.cli(
            "clients", "create", "--name", "RP Library App", "--redirect-uri", REDIRECT_URI,
            "--post-logout-redirect-uri", POST_LOGOUT_URI, "--scope", SCOPE,
        )  # fmt: skip
        self.client_id: str = created["client_id"]
        self.client_secret: str = created["client_secret"]
        self.metadata: dict[str, Any] = httpx.get(
            f"{stack.issuer}/.well-known/openid-configuration"
        ).json()

    def browser_login(self, authorization_url: str) -> str:
        """Be the user's browser: log in, allow, and return the callback URL the OP redirects to."""
        with httpx.Client() as browser:
            response = browser.get(authorization_url)
            assert response.status_code == 303, response.text
            login_url = f"{self.stack.issuer}{response.headers['location']}"
            request_id = re.search(r"request_id=([\w-]+)", login_url).group(1)  # type: ignore[union-attr]
            page = browser.get(login_url)
            response = browser.post(f"{self.stack.issuer}/login", data={
                "username": "oidc-user", "password": "oidc-password-1",
                "csrf_token": csrf_from(page.text), "request_id": request_id,
            })  # fmt: skip
            response = browser.get(f"{self.stack.issuer}{response.headers['location']}")
            if response.status_code == 200:  # the consent screen, the first time only
                response = browser.post(f"{self.stack.issuer}/consent", data={
                    "allow": "allow", "csrf_token": csrf_from(response.text), "request_id": request_id,
                })  # fmt: skip
        assert response.status_code == 302, response.text
        location: str = response.headers["location"]
        assert location.startswith(REDIRECT_URI + "?")
        return location


@pytest.fixture(scope="module")
def rp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelyingParty]:
    # One provider for the module: every test logs in afresh, so they do not share state.
    tmp_path = tmp_path_factory.mktemp("oidc")
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as stack:
        stack.start_auth()
        stack.start_resource()
        yield RelyingParty(stack)


def _authlib_client(rp: RelyingParty) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=rp.client_id,
        client_secret=rp.client_secret,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def _validated_id_token(
    rp: RelyingParty,
    jwks: dict[str, Any],
    id_token: str,
    *,
    nonce: str,
    access_token: str,
    now: int | None = None,
) -> CodeIDToken:
    """What Authlib's OpenID mixin does with an ID token: verify with the JWKS, then the claims."""
    token = joserfc_jwt.decode(
        id_token,
        KeySet.import_key_set(jwks),
        registry=JWSRegistry(algorithms=rp.metadata["id_token_signing_alg_values_supported"]),
    )
    claims = CodeIDToken(
        token.claims,
        token.header,
        {"iss": {"values": [rp.metadata["issuer"]]}},
        {"nonce": nonce, "client_id": rp.client_id, "access_token": access_token},
    )
    claims.validate(now=now, leeway=0)
    return claims


async def _authlib_login(
    rp: RelyingParty, client: AsyncOAuth2Client
) -> tuple[dict[str, Any], str, str]:
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(
        rp.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = rp.browser_login(url)
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert params["state"] == state and params["iss"] == rp.metadata["issuer"]  # RFC 9207
    token = await client.fetch_token(
        rp.metadata["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
    )
    return dict(token), nonce, verifier


async def test_authlib_client_runs_the_whole_oidc_flow_from_discovery(rp: RelyingParty) -> None:
    async with _authlib_client(rp) as client:
        token, nonce, _ = await _authlib_login(rp, client)
        jwks = (await client.get(rp.metadata["jwks_uri"])).json()
        claims = _validated_id_token(
            rp, jwks, token["id_token"], nonce=nonce, access_token=token["access_token"]
        )
        userinfo = (await client.get(rp.metadata["userinfo_endpoint"])).json()
        refreshed = await client.refresh_token(
            rp.metadata["token_endpoint"], refresh_token=token["refresh_token"]
        )
        revoked = await client.revoke_token(
            rp.metadata["revocation_endpoint"],
            token=refreshed["refresh_token"],
            token_type_hint="refresh_token",
        )
        with pytest.raises(OAuthError) as refused:
            await client.refresh_token(
                rp.metadata["token_endpoint"], refresh_token=refreshed["refresh_token"]
            )
        logout = await client.get(
            rp.metadata["end_session_endpoint"],
            params={
                "id_token_hint": token["id_token"],
                "post_logout_redirect_uri": POST_LOGOUT_URI,
                "state": "s",
            },
        )

    assert (
        claims["aud"] == rp.client_id and claims["azp"] == rp.client_id and claims["nonce"] == nonce
    )
    assert {"auth_time", "at_hash", "iat", "exp"} <= set(claims)
    assert userinfo == {
        "sub": claims["sub"],
        "name": "Olive Idc",
        "preferred_username": "oidc-user",
        "updated_at": userinfo["updated_at"],
        "email": "oidc@example.com",
        "email_verified": False,
    }
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert revoked.status_code == 200
    assert refused.value.error == "invalid_grant"
    assert logout.status_code == 303 and logout.headers["location"] == f"{POST_LOGOUT_URI}?state=s"


async def test_authlib_rejects_wrong_nonce_expired_and_unknown_key_id_tokens(
    rp: RelyingParty,
) -> None:
    async with _authlib_client(rp) as client:
        token, nonce, _ = await _authlib_login(rp, client)
        jwks = (await client.get(rp.metadata["jwks_uri"])).json()
    id_token, access_token = token["id_token"], token["access_token"]

    with pytest.raises(InvalidClaimError, match="nonce"):
        _validated_id_token(rp, jwks, id_token, nonce="another-nonce", access_token=access_token)
    with pytest.raises(ExpiredTokenError):
        _validated_id_token(
            rp, jwks, id_token, nonce=nonce, access_token=access_token, now=int(time.time()) + 7200
        )
    stranger = new_signing_key("RS256")
    claims = joserfc_jwt.decode(id_token, KeySet.import_key_set(jwks)).claims
    forged = sign(
        claims, load_private_key(stranger.pem, "RS256"), kid=stranger.kid, alg="RS256", typ="JWT"
    )
    with pytest.raises(JoseError):
        _validated_id_token(rp, jwks, forged, nonce=nonce, access_token=access_token)


def _node_login(rp: RelyingParty, **extra: Any) -> dict[str, Any]:
    start = run_rp("start", issuer=rp.metadata["issuer"], client_id=rp.client_id,
                   client_secret=rp.client_secret, redirect_uri=REDIRECT_URI, scope=SCOPE)  # fmt: skip
    assert start["ok"], start
    callback = rp.browser_login(start["url"])
    return run_rp(
        "finish",
        issuer=rp.metadata["issuer"],
        client_id=rp.client_id,
        client_secret=rp.client_secret,
        redirect_uri=REDIRECT_URI,
        post_logout_redirect_uri=POST_LOGOUT_URI,
        callback_url=callback,
        verifier=start["verifier"],
        nonce=extra.pop("nonce", start["nonce"]),
        state=start["state"],
        **extra,
    )


def test_openid_client_node_runs_the_whole_oidc_flow_from_discovery(rp: RelyingParty) -> None:
    require_node()
    result = _node_login(rp)

    assert result["ok"], result
    claims = result["id_token_claims"]
    assert claims["iss"] == rp.metadata["issuer"] and claims["aud"] == rp.client_id
    assert result["userinfo"]["sub"] == claims["sub"]
    assert result["userinfo"]["preferred_username"] == "oidc-user"
    assert result["refreshed_has_new_refresh_token"] is True
    assert result["revoked_refresh_token_refused"] is True
    assert result["end_session_url"].startswith(rp.metadata["end_session_endpoint"] + "?")


def test_openid_client_node_rejects_a_wrong_nonce(rp: RelyingParty) -> None:
    require_node()
    result = _node_login(rp, nonce="not-the-nonce-we-sent")
    assert result["ok"] is False and result["claim"] == "nonce", result


def test_openid_client_node_rejects_an_expired_id_token(rp: RelyingParty) -> None:
    require_node()
    result = _node_login(rp, clock_skew=7200)  # the RP's clock two hours ahead of the OP's
    assert result["ok"] is False and result["claim"] == "exp", result


def test_oauth4webapi_rejects_an_id_token_signed_by_an_unknown_key(rp: RelyingParty) -> None:
    require_node()
    now = int(time.time())
    claims = {"iss": rp.metadata["issuer"], "sub": "someone", "aud": rp.client_id, "iat": now,
              "exp": now + 300, "nonce": "n-1", "auth_time": now}  # fmt: skip
    keys = httpx.get(rp.metadata["jwks_uri"]).json()["keys"]
    real_kid = next(k["kid"] for k in keys if k["alg"] == "RS256")  # one key per algorithm
    real_key = load_private_key((rp.stack.key_dir / f"{real_kid}.pem").read_bytes(), "RS256")
    stranger = new_signing_key("RS256")
    for key, kid, accepted in (
        (real_key, real_kid, True),  # the control: same claims, our key, accepted
        (load_private_key(stranger.pem, "RS256"), stranger.kid, False),
    ):
        body = {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": sign(claims, key, kid=kid, alg="RS256", typ="JWT"),
        }
        result = run_rp("process-token-response", issuer=rp.metadata["issuer"],
                        client_id=rp.client_id, body=body, nonce="n-1")  # fmt: skip
        assert result["ok"] is accepted, result


def test_prompt_none_without_session_returns_login_required_to_the_client(rp: RelyingParty) -> None:
    verifier, nonce = generate_token(48), generate_token(20)
    client = AsyncOAuth2Client(client_id=rp.client_id, scope=SCOPE, redirect_uri=REDIRECT_URI,
                               code_challenge_method="S256")  # fmt: skip
    url, state = client.create_authorization_url(
        rp.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, prompt="none"
    )
    response = httpx.get(url)
    assert response.status_code == 302
    params = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    assert params == {
        "error": "login_required",
        "error_description": "the user is not logged in",
        "state": state,
        "iss": rp.metadata["issuer"],
    }
