"""Raw ASGI types, and the one error answer middleware sends before any route runs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_invalid_request(send: Send, status: int, description: str) -> None:
    """An `invalid_request` error in the token endpoint's JSON shape (RFC 6749 §5.2), not cached,
    for middleware that answers before any route, and so before the OAuth error handler, runs."""
    body = json.dumps(
        {"error": "invalid_request", "error_description": description}, separators=(",", ":")
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
