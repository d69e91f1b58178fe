"""The MCP SDK's own OAuth client against the real services, knowing only the /mcp URL: it reads
the 401 challenge, the protected resource metadata (RFC 9728) and the issuer's metadata (RFC
8414), registers itself (RFC 7591), signs in with PKCE and calls the notes tools (MCP
authorization 2025-11-25). A token without write:notes is refused with 403 insufficient_scope."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.shared.exceptions import MCPError
from pydantic import AnyUrl

from shared.models import Client as ClientRow
from shared.models import Note
from tests.support.challenges import parse_challenges
from tests.support.databases import fresh_database
from tests.support.flows import csrf_from, pkce_pair
from tests.support.live import LiveStack, live_stack, rows

pytestmark = pytest.mark.e2e
# Loopback and never contacted: the test reads the code off the redirect the server sends.
REDIRECT_URI = "http://127.0.0.1:9/callback"
USERNAME, PASSWORD = "ada", "ada-password-1"


class MemoryStorage:
    """The SDK's TokenStorage, kept in memory for one test."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        live.start_auth(AUTH_REGISTRATION_OPEN="true")
        live.start_resource()
        live.cli("users", "create", "--username", USERNAME, "--password", PASSWORD,
                 "--email", "ada@example.com")  # fmt: skip
        # The SDK sends resource=<the metadata's resource> (RFC 8707): the notes API must be a
        # registered resource server, as `make run`'s seed makes it.
        live.cli("resources", "create", "--uri", live.audience, "--name", "Notes API",
                 "--scope", "read:notes write:notes")  # fmt: skip
        yield live


async def sign_in_and_consent(issuer: str, authorization_url: str) -> dict[str, str]:
    """What the user does in a browser: log in as the demo user, allow; returns the redirect's
    query (code, state, iss) without following it."""
    async with httpx.AsyncClient(base_url=issuer) as browser:
        response = await browser.get(authorization_url)
        assert response.status_code == 303, response.headers.get("location")
        match = re.search(r"request_id=([\w-]+)", response.headers["location"])
        assert match is not None, response.headers["location"]
        request_id = match.group(1)
        page = await browser.get(response.headers["location"])
        response = await browser.post("/login", data={
            "username": USERNAME, "password": PASSWORD,
            "csrf_token": csrf_from(page.text), "request_id": request_id,
        })  # fmt: skip
        assert response.status_code == 303, response.text
        consent = await browser.get(response.headers["location"])
        assert consent.status_code == 200, consent.text
        response = await browser.post("/consent", data={
            "allow": "allow", "request_id": request_id, "csrf_token": csrf_from(consent.text),
        })  # fmt: skip
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return dict(parse_qsl(urlsplit(location).query))


def oauth_provider(stack: LiveStack, storage: MemoryStorage) -> OAuthClientProvider:
    redirect: dict[str, str] = {}

    async def redirect_handler(authorization_url: str) -> None:
        redirect.update(await sign_in_and_consent(stack.issuer, authorization_url))

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(
            code=redirect.pop("code"), state=redirect.pop("state"), iss=redirect.pop("iss")
        )

    return OAuthClientProvider(
        server_url=f"{stack.audience}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="MCP notes test client",
            redirect_uris=[AnyUrl(REDIRECT_URI)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )


def _structured(result: Any) -> Any:
    assert result.is_error is False, result.content
    return result.structured_content


def test_mcp_sdk_client_discovers_registers_signs_in_and_calls_the_tools(
    stack: LiveStack,
) -> None:
    storage = MemoryStorage()
    provider = oauth_provider(stack, storage)
    seen: dict[str, Any] = {}

    async def session() -> None:
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(f"{stack.audience}/mcp", http_client=http)) as mcp,
        ):
            seen["tools"] = await mcp.list_tools()
            note = {"title": "From MCP", "body": "hi"}
            created = seen["created"] = _structured(await mcp.call_tool("create_note", note))
            seen["listed"] = _structured(await mcp.call_tool("list_notes", {}))
            by_id = {"note_id": created["id"]}
            seen["fetched"] = _structured(await mcp.call_tool("get_note", by_id))
            assert storage.tokens is not None
            async with httpx.AsyncClient(base_url=stack.audience) as rest:
                seen["over_rest"] = await rest.get(
                    "/api/v1/notes",
                    headers={"Authorization": f"Bearer {storage.tokens.access_token}"},
                )
            seen["deleted"] = _structured(await mcp.call_tool("delete_note", by_id))

    asyncio.run(session())
    tools, created, listed = seen["tools"], seen["created"], seen["listed"]
    fetched, over_rest, deleted = seen["fetched"], seen["over_rest"], seen["deleted"]

    assert sorted(tool.name for tool in tools.tools) == [
        "create_note", "delete_note", "get_note", "list_notes",
    ]  # fmt: skip
    assert [note["title"] for note in listed["items"]] == ["From MCP"]
    assert fetched == created
    # The same note through the REST API, with the token the SDK obtained.
    assert over_rest.status_code == 200, over_rest.text
    assert [note["id"] for note in over_rest.json()["items"]] == [created["id"]]
    assert deleted == {"id": created["id"], "deleted": True}
    assert rows(stack, Note) == []
    # The SDK registered itself (RFC 7591) as a public client and asked for the challenge's scopes.
    assert storage.client_info is not None
    (registered,) = [
        c for c in rows(stack, ClientRow) if c.client_id == storage.client_info.client_id
    ]
    assert registered.is_public is True
    assert storage.tokens is not None and storage.tokens.scope is not None
    assert {"read:notes", "write:notes"} <= set(storage.tokens.scope.split())


def _read_only_token(stack: LiveStack, allowed: str = "read:notes") -> tuple[str, str]:
    """A read:notes token of the demo user, and the id of the public client the operator
    registered (allowed `allowed`) that holds it."""
    client = stack.cli("clients", "create", "--name", "Reader", "--redirect-uri", REDIRECT_URI,
                       "--scope", allowed, "--public")  # fmt: skip
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
        "scope": "read:notes", "state": "s-read", "code_challenge": challenge,
        "code_challenge_method": "S256",
    }  # fmt: skip
    url = "/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in httpx.QueryParams(params).items())
    answer = asyncio.run(sign_in_and_consent(stack.issuer, url))
    tokens = httpx.post(f"{stack.issuer}/oauth/token", data={
        "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier, "client_id": client["client_id"],
    })  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "read:notes"
    token: str = tokens.json()["access_token"]
    return token, client["client_id"]


def test_mcp_read_only_token_calling_create_note_is_refused_with_403(stack: LiveStack) -> None:
    token, _ = _read_only_token(stack)

    async def through_the_sdk() -> tuple[Any, MCPError | None]:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(f"{stack.audience}/mcp", http_client=http)) as mcp,
        ):
            listed = await mcp.call_tool("list_notes", {})
            try:
                await mcp.call_tool("create_note", {"title": "nope"})
            except MCPError as exc:
                return listed, exc
            return listed, None

    listed, refusal = asyncio.run(through_the_sdk())
    raw = httpx.post(
        f"{stack.audience}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "create_note", "arguments": {"title": "nope"}}},
        headers={"Authorization": f"Bearer {token}",
                 "Accept": "application/json, text/event-stream"},
    )  # fmt: skip

    assert listed.is_error is False and listed.structured_content == {
        "items": [],
        "next_cursor": None,
    }
    # Without an OAuth provider to step up with, the SDK reports the HTTP refusal as an error.
    assert isinstance(refusal, MCPError), refusal
    assert raw.status_code == 403
    assert raw.json() == {
        "error": "insufficient_scope",
        "error_description": "the access token lacks the required scope",
    }
    assert parse_challenges(raw.headers["www-authenticate"]) == [
        (
            "Bearer",
            {
                "realm": "myauth-api",
                "error": "insufficient_scope",
                "error_description": "the access token lacks the required scope",
                "scope": "read:notes write:notes",
                "resource_metadata": f"{stack.audience}/.well-known/oauth-protected-resource",
            },
        )
    ]
    assert rows(stack, Note) == []


def test_mcp_sdk_client_steps_up_from_read_only_when_create_note_is_refused(
    stack: LiveStack,
) -> None:
    # MCP authorization, "Step-Up Authorization Flow": the 403's scope sends the client back to
    # the authorization server for read:notes and write:notes, then it retries the call.
    # The SDK adds offline_access to what it asks for when the issuer offers it (SEP-2207).
    token, client_id = _read_only_token(stack, allowed="read:notes write:notes offline_access")
    storage = MemoryStorage()
    storage.tokens = OAuthToken(access_token=token, scope="read:notes", expires_in=900)
    storage.client_info = OAuthClientInformationFull(
        client_id=client_id,
        redirect_uris=[AnyUrl(REDIRECT_URI)],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="none",
    )
    provider = oauth_provider(stack, storage)

    async def session() -> Any:
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(f"{stack.audience}/mcp", http_client=http)) as mcp,
        ):
            return _structured(await mcp.call_tool("create_note", {"title": "After step-up"}))

    created = asyncio.run(session())

    assert created["title"] == "After step-up"
    assert [note.title for note in rows(stack, Note)] == ["After step-up"]
    assert storage.tokens is not None and storage.tokens.access_token != token
    assert {"read:notes", "write:notes"} <= set((storage.tokens.scope or "").split())
