"""Pushed authorization requests (RFC 9126) with the real admin CLI and a real uvicorn process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.support.admin_cli import run_cli
from tests.support.databases import fresh_database
from tests.support.flows import csrf_from, pkce_pair
from tests.support.live import LiveStack, live_stack

REDIRECT_URI = "http://127.0.0.1:9/callback"
pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        yield live


def _query(location: str) -> dict[str, str]:
    assert location.startswith(REDIRECT_URI + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_cli_clients_create_require_par_is_listed_and_update_turns_it_off(
    stack: LiveStack,
) -> None:
    created = stack.cli(
        "clients", "create", "--name", "PAR App", "--redirect-uri", REDIRECT_URI, "--require-par"
    )

    (listed,) = run_cli(stack, "clients", "list").json()
    updated = run_cli(stack, "clients", "update", created["client_id"], "--no-require-par").json()
    again = run_cli(stack, "clients", "update", created["client_id"], "--require-par").json()

    assert listed["client_id"] == created["client_id"]
    assert listed["require_pushed_authorization_requests"] is True
    assert updated["require_pushed_authorization_requests"] is False
    assert again["require_pushed_authorization_requests"] is True


async def test_live_par_client_pushes_signs_in_gets_tokens_and_cannot_reuse(
    stack: LiveStack,
) -> None:
    stack.start_auth()
    stack.cli("users", "create", "--username", "alice", "--password", "alice-password-1",
              "--email", "alice@example.com")  # fmt: skip
    creds = stack.cli("clients", "create", "--name", "PAR App", "--redirect-uri", REDIRECT_URI,
                      "--scope", "openid profile", "--require-par")  # fmt: skip
    client_auth = (creds["client_id"], creds["client_secret"])
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": creds["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "s-par",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(base_url=stack.issuer) as browser:
        metadata = (await browser.get("/.well-known/oauth-authorization-server")).json()
        assert metadata["pushed_authorization_request_endpoint"] == f"{stack.issuer}/oauth/par"
        unpushed = await browser.get("/oauth/authorize?" + urlencode(params))
        assert _query(unpushed.headers["location"])["error"] == "invalid_request"

        pushed = await browser.post("/oauth/par", data=params, auth=client_auth)
        assert pushed.status_code == 201, pushed.text
        url = "/oauth/authorize?" + urlencode(
            {"client_id": creds["client_id"], "request_uri": pushed.json()["request_uri"]}
        )
        response = await browser.get(url)
        assert response.status_code == 303, response.text
        request_id = re.search(r"request_id=([\w-]+)", response.headers["location"])
        assert request_id is not None
        page = await browser.get(response.headers["location"])
        response = await browser.post("/login", data={
            "username": "alice", "password": "alice-password-1",
            "csrf_token": csrf_from(page.text), "request_id": request_id.group(1),
        })  # fmt: skip
        consent = await browser.get(response.headers["location"])
        response = await browser.post("/consent", data={
            "allow": "allow", "request_id": request_id.group(1),
            "csrf_token": csrf_from(consent.text),
        })  # fmt: skip
        answer = _query(response.headers["location"])
        assert (answer["state"], answer["iss"]) == ("s-par", stack.issuer)
        tokens = await browser.post(
            "/oauth/token",
            data={"grant_type": "authorization_code", "code": answer["code"],
                  "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
            auth=client_auth,
        )  # fmt: skip
        reused = await browser.get(url)

    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "openid profile"
    assert reused.status_code == 400
    assert "location" not in reused.headers
    assert "the request_uri was already used" in reused.text
