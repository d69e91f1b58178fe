"""/mcp: the MCP Streamable HTTP endpoint behind the REST API's own token validation.

Per the MCP authorization specification (2025-11-25): every request carries an access token,
checked by `resource_service.deps.authenticate` exactly as for /api/v1 (Bearer or DPoP,
signature, issuer, audience, revocation); no or a bad token is a 401 whose challenge names our
metadata (RFC 9728 §5.1) and the scopes the tools use; a `tools/call` whose token lacks the
tool's scope is a 403 insufficient_scope naming it (RFC 6750 §3.1), so the client can step up.

The SDK's session manager runs stateless with JSON responses: this service keeps no state
outside the database (any instance may answer any request), and no tool streams or calls back.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request

from resource_service.deps import authenticate, insufficient_scope
from resource_service.mcp_server.tools import CLAIMS_STATE, TOOL_SCOPES, TOOLS
from shared.asgi import Message, Receive, Scope, Send

MCP_PATH = "/mcp"
# What a client without a token is told to ask for (MCP authorization, "Protected Resource
# Metadata Discovery Requirements": servers SHOULD name the scopes in the 401 challenge).
SERVED_SCOPES: frozenset[str] = frozenset().union(*TOOL_SCOPES.values())
TOOLS_SCOPE = " ".join(sorted(SERVED_SCOPES))
# What any request needs, even `initialize` or `tools/list`: the scope of the read-only tools. A
# token with none of ours (`profile` only, say) could do nothing here; refused at the start, its
# client steps up before it has a session that fails tool by tool (RFC 6750 §3.1 insufficient_scope;
# MCP authorization 2025-11-25, "Scope Challenge Handling").
LEAST_SCOPES: frozenset[str] = frozenset(scope for _, scope, read_only in TOOLS if read_only)


def called_tools(body: bytes) -> list[str]:
    """The tool names a JSON-RPC message (or batch) calls with `tools/call`. Anything that does
    not parse is left to the SDK, which answers it with the JSON-RPC error it deserves."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return []
    messages: list[Any] = message if isinstance(message, list) else [message]
    names = []
    for item in messages:
        if isinstance(item, dict) and item.get("method") == "tools/call":
            params = item.get("params")
            if isinstance(params, dict) and isinstance(params.get("name"), str):
                names.append(params["name"])
    return names


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class McpEndpoint:
    """The ASGI app routed at /mcp: Origin, token and scope checks, then the SDK's transport."""

    route_path = MCP_PATH  # the access log's and metrics' route label (request_context)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        state = request.app.state
        # MCP transports (2025-11-25, Streamable HTTP, "Security Warning"): servers MUST
        # validate Origin against DNS rebinding. Browsers send it cross-origin; we serve none.
        origin = request.headers.get("origin")
        if origin is not None and origin.lower() != _origin(state.public_url):
            raise HTTPException(status_code=403, detail="requests from this origin are refused")
        claims = await authenticate(request, challenge_scope=TOOLS_SCOPE)
        if request.method != "POST":
            # Streamable HTTP: a server offering no stream answers GET with 405; stateless, we
            # send no server-initiated messages, and there is no session to DELETE.
            raise HTTPException(status_code=405, headers={"Allow": "POST"})
        body = await request.body()
        needed = frozenset().union(
            *(TOOL_SCOPES.get(name, frozenset()) for name in called_tools(body))
        )
        if not claims.scopes & SERVED_SCOPES:
            needed |= LEAST_SCOPES
        if not needed <= claims.scopes:
            # The recommended approach of "Scope Challenge Handling": the scopes the call needs
            # plus those of ours the token already has, so stepping up loses none of them.
            raise insufficient_scope(request, needed | (claims.scopes & SERVED_SCOPES))
        setattr(request.state, CLAIMS_STATE, claims)
        sessions: StreamableHTTPSessionManager = state.mcp_sessions
        await sessions.handle_request(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` again from the start: the body read above, then whatever the client sends next
    (its disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
