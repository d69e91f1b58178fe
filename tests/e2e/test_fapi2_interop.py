"""FAPI 2.0 pieces against independent client libraries: oauth4webapi and openid-client (Node).

A client registered with the real admin CLI (private_key_jwt, PAR required, DPoP-bound, PS256
ID tokens). oauth4webapi pushes the request with PKCE and a DPoP proof, Debian's Chromium signs in
and consents, the library redeems the code with DPoP, validates the PS256 ID token, calls the
notes API on the live resource service with a DPoP-bound token and refreshes; openid-client then
refreshes again with the same DPoP key, calls the API, and runs its own PAR + PKCE + DPoP code flow
through a second browser sign-in. All against real uvicorn processes.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc.jwk import ECKey
from playwright.sync_api import Route, sync_playwright

from shared.models import AuthorizationCode, PushedAuthorizationRequest
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, require
from tests.support.admin_cli import run_cli
from tests.support.assertions_jwt import ClientKey, jwks_of, new_client_key
from tests.support.databases import fresh_database
from tests.support.live import LiveStack, live_stack, rows
from tests.support.node import InteractiveRp

pytestmark = pytest.mark.e2e

REDIRECT_URI = "http://127.0.0.1:9/callback"
SCOPE = "openid read:notes"
USERNAME, PASSWORD = "fapi-user", "fapi-password-1"


@pytest.fixture(scope="module", params=["no-nonce", "dpop-nonce"])
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveStack]:
    # With nonces on, both servers first answer use_dpop_nonce (RFC 9449 §8 the authorization
    # server, §9 the notes API) and the libraries must retry with the DPoP-Nonce header's value.
    tmp_path = tmp_path_factory.mktemp("fapi2-interop")
    nonces = request.param == "dpop-nonce"
    resource_env = {"RESOURCE_DPOP_NONCE_SECRET": secrets.token_urlsafe(32)} if nonces else {}
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        live.start_auth(AUTH_DPOP_NONCE_REQUIRED=str(nonces).lower())
        live.start_resource(**resource_env)
        live.cli("users", "create", "--username", USERNAME, "--password", PASSWORD,
                 "--email", "fapi@example.com")  # fmt: skip
        yield live


def register_fapi2_client(stack: LiveStack, key: ClientKey, jwks_file: Path) -> str:
    """The FAPI 2.0 client, registered with the admin CLI's profile (README "The FAPI 2.0
    profile"): PAR, PKCE and DPoP forced on, tokens signed PS256."""
    jwks_file.write_text(json.dumps(jwks_of(key)))
    created = run_cli(
        stack, "clients", "create", "--name", "FAPI Interop", "--redirect-uri", REDIRECT_URI,
        "--scope", SCOPE, "--auth-method", "private_key_jwt", "--jwks", str(jwks_file),
        "--profile", "fapi2",
    ).json()  # fmt: skip
    client_id: str = created["client_id"]
    return client_id


def browser_login(authorization_url: str, *, consent: bool = True) -> str:
    """Debian's Chromium signs in and allows (unless the user's consent is remembered); returns
    the callback URL it was redirected to."""
    require(CHROMIUM.is_file(), f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    reached: list[str] = []

    def callback(route: Route) -> None:
        # Nobody listens at the redirect URI: record where the browser went and answer for it.
        reached.append(route.request.url)
        route.fulfill(status=200, body="signed in")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.route(f"{REDIRECT_URI}*", callback)
            page.goto(authorization_url)
            page.get_by_label("Username").fill(USERNAME)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            if consent:
                page.get_by_role("button", name="Allow").click()
            page.wait_for_url(f"{REDIRECT_URI}*")
        finally:
            browser.close()
    assert len(reached) == 1, reached
    return reached[0]


def claims_of(jwt: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: the libraries and the resource service verified it."""
    payload = jwt.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def test_oauth4webapi_and_openid_client_run_fapi2_par_private_key_jwt_dpop_flow(
    stack: LiveStack, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    nonce_required = request.node.callspec.params["stack"] == "dpop-nonce"
    key = new_client_key("PS256")
    client_id = register_fapi2_client(stack, key, tmp_path / "jwks.json")
    notes_url = f"{stack.audience}/api/v1/notes"
    rp = InteractiveRp(
        "fapi2.mjs",
        issuer=stack.issuer,
        client_id=client_id,
        client_jwk={**key.key.as_dict(private=True), "kid": key.kid, "alg": key.alg},
        id_token_alg="PS256",
        redirect_uri=REDIRECT_URI,
        scope=SCOPE,
        notes_url=notes_url,
    )
    try:
        pushed = rp.read()
        assert "authorization_url" in pushed, pushed
        authorization_url: str = pushed["authorization_url"]
        second_push = rp.ask(browser_login(authorization_url))
        assert "authorization_url" in second_push, second_push
        # openid-client's own code flow; a fresh browser signs in again, the consent is remembered.
        result = rp.send(browser_login(second_push["authorization_url"], consent=False))
    finally:
        rp.close()
    reused = httpx.get(authorization_url)
    assert result["ok"], result
    first, second = result["oauth4webapi"], result["openid_client"]
    jkt = ECKey.import_key(result["dpop_public_jwk"]).thumbprint()  # RFC 7638
    as_bearer = httpx.get(notes_url, headers={"Authorization": f"Bearer {first['access_token']}"})

    # RFC 9126 §4: only client_id and request_uri travel through the browser, for both libraries.
    for url in (authorization_url, second_push["authorization_url"]):
        assert {name for name, _ in parse_qsl(urlsplit(url).query)} == {"client_id", "request_uri"}
    # Both libraries lower-case token_type (RFC 6749 §5.1 makes it case-insensitive).
    assert first["token_type"] == "dpop" and first["id_token_alg"] == "PS256"
    assert first["id_token_claims"]["aud"] == client_id
    # RFC 9449 §6.1: the access tokens are bound to the Node key's thumbprint.
    tokens = ("access_token", "refreshed_access_token"), ("access_token", "code_access_token")
    for library, names in zip((first, second), tokens, strict=True):
        for name in names:
            assert claims_of(library[name])["cnf"] == {"jkt": jkt}, name
    assert first["notes_status"] == 200 and first["notes_body"]["items"] == []
    # FAPI 2.0 §5.3.2.1: the profile keeps the DPoP-bound refresh token instead of rotating it.
    assert first["refreshed_token_type"] == "dpop" and first["rotated"] is False
    # RFC 9449 §8: the first proof to the authorization server (the push) is refused for want of a
    # nonce; the code and refresh requests reuse the nonce the handle kept (§8.2: it is good for
    # the whole lifetime step). §9: the notes API demands its own nonce once.
    assert first["nonce_retries"] == (["par", "resource"] if nonce_required else [])
    assert second["token_type"] == "dpop" and second["code_token_type"] == "dpop"
    assert second["code_id_token_claims"]["aud"] == client_id
    assert second["code_id_token_claims"]["sub"] == first["id_token_claims"]["sub"]
    assert second["notes_status"] == 200 and second["notes_body"]["items"] == []
    # RFC 9449 §7.2: a DPoP-bound token presented as a bearer token is refused with a DPoP challenge.
    assert as_bearer.status_code == 401, as_bearer.text
    assert as_bearer.headers["www-authenticate"].startswith("DPoP")
    # RFC 9126 §2.2 / FAPI 2.0 Security Profile §5.3.2.2: a request_uri is used once.
    assert reused.status_code == 400 and "location" not in reused.headers
    assert "the request_uri was already used" in reused.text
    # Database: the pushed request and the code were each used once, by this client.
    pushed_rows = [r for r in rows(stack, PushedAuthorizationRequest) if r.client_id == client_id]
    code_rows = [r for r in rows(stack, AuthorizationCode) if r.client_id == client_id]
    assert len(pushed_rows) == len(code_rows) == 2  # one per library
    for par_row, code_row in zip(pushed_rows, code_rows, strict=True):
        assert par_row.used_at is not None and code_row.used_at is not None
        assert par_row.params["code_challenge_method"] == "S256"
        # RFC 9449 §10.1: the proof sent with the push bound the request, then the code, to the key.
        assert par_row.params["dpop_jkt"] == jkt and code_row.dpop_jkt == jkt
