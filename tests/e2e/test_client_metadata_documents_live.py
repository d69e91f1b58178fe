"""Client ID Metadata Documents with a real uvicorn auth service, the real admin CLI and a client's
own web server: sign in, consent, tokens and a refresh for a client known only by its URL."""

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
from tests.support.metadata_document_server import DocumentServer, document_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        yield live


@pytest.fixture
def docs() -> Iterator[DocumentServer]:
    with document_server() as server:
        yield server


async def test_live_url_client_signs_in_gets_tokens_refreshes_and_is_not_editable(
    stack: LiveStack, docs: DocumentServer
) -> None:
    stack.start_auth()
    stack.cli("users", "create", "--username", "alice", "--password", "alice-password-1",
              "--email", "alice@example.com")  # fmt: skip
    client_id = docs.publish("/agent.json", scope="openid read:notes offline_access")
    redirect_uri = docs.url("/callback")
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid read:notes offline_access", "state": "s-cimd",
        "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=stack.issuer) as browser:
        metadata = (await browser.get("/.well-known/oauth-authorization-server")).json()
        response = await browser.get("/oauth/authorize?" + urlencode(params))
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
        location = response.headers["location"]
        assert location.startswith(redirect_uri + "?"), location
        answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        tokens = await browser.post("/oauth/token", data={
            "grant_type": "authorization_code", "code": answer["code"], "client_id": client_id,
            "redirect_uri": redirect_uri, "code_verifier": verifier,
        })  # fmt: skip
        assert tokens.status_code == 200, tokens.text
        refreshed = await browser.post("/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"],
            "client_id": client_id,
        })  # fmt: skip

    assert metadata["client_id_metadata_document_supported"] is True
    assert 'An app from <strong class="publisher-host">127.0.0.1</strong>' in consent.text
    assert (answer["state"], answer["iss"]) == ("s-cimd", stack.issuer)
    assert tokens.json()["scope"] == "openid read:notes offline_access"
    assert refreshed.status_code == 200, refreshed.text
    assert docs.hits["/agent.json"] == 1  # cached for the floor (AUTH_CLIENT_METADATA_MIN_TTL)
    (listed,) = run_cli(stack, "clients", "list").json()
    assert (listed["client_id"], listed["from_metadata_document"]) == (client_id, True)
    assert listed["public"] is True
    changed = run_cli(stack, "clients", "update", client_id, "--name", "Mine now")
    rotated = run_cli(stack, "clients", "rotate-secret", client_id)
    assert changed.returncode != 0 and rotated.returncode != 0
    assert "defined by its client metadata document" in changed.stderr
    assert "defined by its client metadata document" in rotated.stderr
