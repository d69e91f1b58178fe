"""The whole flow against real uvicorn processes over real HTTP, set up with the real admin CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from shared.tokens import load_private_key, sign
from tests.support.databases import fresh_database
from tests.support.flows import csrf_from, pkce_pair
from tests.support.forge import unverified_claims, unverified_header
from tests.support.live import LiveStack, live_stack

REDIRECT_URI = "http://127.0.0.1:9/callback"
pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        live.start_auth()
        live.start_resource()
        yield live


def _request_id(location: str) -> str:
    match = re.search(r"request_id=([\w-]+)", location)
    assert match, location
    return match.group(1)


async def test_live_code_flow_reads_me_and_refuses_tampered_and_foreign_tokens(
    stack: LiveStack,
) -> None:
    stack.cli("users", "create", "--username", "alice", "--password", "alice-password-1",
              "--email", "alice@example.com", "--name", "Alice Liddell")  # fmt: skip
    creds = stack.cli("clients", "create", "--name", "Live App", "--redirect-uri", REDIRECT_URI,
                      "--scope", "openid profile email")  # fmt: skip
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": creds["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "s-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(base_url=stack.issuer) as browser:
        response = await browser.get("/oauth/authorize?" + urlencode(query))
        assert response.status_code == 303
        request_id = _request_id(response.headers["location"])
        page = await browser.get(response.headers["location"])
        response = await browser.post("/login", data={
            "username": "alice", "password": "alice-password-1",
            "csrf_token": csrf_from(page.text), "request_id": request_id,
        })  # fmt: skip
        assert response.status_code == 303
        consent = await browser.get(response.headers["location"])
        assert consent.status_code == 200 and "Live App" in consent.text
        response = await browser.post("/consent", data={
            "allow": "allow", "request_id": request_id, "csrf_token": csrf_from(consent.text),
        })  # fmt: skip
        assert response.status_code == 302
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI + "?")
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert params["state"] == "s-123" and params["iss"] == stack.issuer

        token_response = await browser.post(
            "/oauth/token",
            data={"grant_type": "authorization_code", "code": params["code"],
                  "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
            auth=(creds["client_id"], creds["client_secret"]),
        )  # fmt: skip
    assert token_response.status_code == 200, token_response.text
    assert token_response.headers["cache-control"] == "no-store"
    access_token = token_response.json()["access_token"]

    async with httpx.AsyncClient(base_url=stack.audience) as api:
        me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {access_token}"})
        assert me.status_code == 200
        assert me.json()["username"] == "alice" and me.json()["name"] == "Alice Liddell"

        header, payload, signature = access_token.split(".")
        tampered = (
            f"{header}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
        )
        refused = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {tampered}"})
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]

        claims = unverified_claims(access_token)
        kid = unverified_header(access_token)["kid"]
        key = load_private_key((stack.key_dir / f"{kid}.pem").read_bytes(), "RS256")
        foreign = sign(
            {**claims, "aud": "https://other.example"}, key, kid=kid, alg="RS256", typ="at+jwt"
        )
        refused = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {foreign}"})
        assert refused.status_code == 401
        assert "audience" in refused.headers["www-authenticate"]
