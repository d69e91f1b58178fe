"""Reach the notes MCP server knowing only its URL, with the MCP SDK's own OAuth client.

The SDK reads the 401 challenge, the protected resource metadata and the issuer's metadata,
registers itself (dynamic registration), opens your browser to sign in and consent, takes the
code on a loopback redirect and calls the tools. With the services of `make run`:

    AUTH_REGISTRATION_OPEN=true make run          # one terminal
    .venv/bin/python examples/mcp_notes_client.py   # another; sign in as the demo user

Arguments: [MCP_URL] [NOTE_TITLE]; defaults http://127.0.0.1:8001/mcp and "Written over MCP".
"""

from __future__ import annotations

import asyncio
import sys
import webbrowser
from urllib.parse import parse_qsl, urlsplit

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

CALLBACK_PORT = 8765
REDIRECT_URI = f"http://127.0.0.1:{CALLBACK_PORT}/callback"


class MemoryStorage:
    """Tokens and the registration for this run only; a real client keeps them somewhere safe."""

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


class LoopbackCallback:
    """Waits for the browser's redirect to REDIRECT_URI (RFC 8252 §7.3) and keeps its query."""

    def __init__(self) -> None:
        self.result: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode("latin-1")
        target = request_line.split(" ")[1] if request_line.count(" ") >= 2 else "/"
        query = dict(parse_qsl(urlsplit(target).query))
        body = b"Signed in. You can close this tab."
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()
        if urlsplit(target).path == "/callback" and not self.result.done():
            self.result.set_result(query)

    async def redirect(self, authorization_url: str) -> None:
        print(f"Opening your browser to sign in:\n  {authorization_url}")
        # webbrowser may wait for the browser command to exit: keep it off the event loop.
        await asyncio.to_thread(webbrowser.open, authorization_url)

    async def wait(self) -> AuthorizationCodeResult:
        query = await self.result
        if "code" not in query:
            raise SystemExit(f"authorization failed: {query.get('error', 'no code')}")
        return AuthorizationCodeResult(
            code=query["code"], state=query.get("state"), iss=query.get("iss")
        )


async def main(mcp_url: str, title: str) -> None:
    callback = LoopbackCallback()
    server = await asyncio.start_server(callback.handle, "127.0.0.1", CALLBACK_PORT)
    provider = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="MCP notes example",
            redirect_uris=[AnyUrl(REDIRECT_URI)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",  # noqa: S106 - a method name, no secret
        ),
        storage=MemoryStorage(),
        redirect_handler=callback.redirect,
        callback_handler=callback.wait,
    )
    async with (
        server,
        httpx2.AsyncClient(auth=provider, timeout=120) as http,
        Client(streamable_http_client(mcp_url, http_client=http)) as mcp,
    ):
        tools = await mcp.list_tools()
        print("tools:", ", ".join(tool.name for tool in tools.tools))
        created = await mcp.call_tool("create_note", {"title": title})
        print("created:", created.structured_content)
        listed = await mcp.call_tool("list_notes", {"limit": 5})
        print("your latest notes:", listed.structured_content)


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8001/mcp"
    asyncio.run(main(url, sys.argv[2] if len(sys.argv) > 2 else "Written over MCP"))
