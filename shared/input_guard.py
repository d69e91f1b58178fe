"""Text that no handler should ever see: NUL characters, invalid UTF-8, lone surrogates.

PostgreSQL cannot store a NUL in text and a lone surrogate cannot be encoded at all, so such input
would surface as a 500 deep in a query. It is refused at the edge instead: in the URL by
`MalformedInputMiddleware`, in bodies by the parsers (`clean_text`).
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from shared.asgi import ASGIApp, Receive, Scope, Send, send_invalid_request

MAX_DB_INTEGER = 2**31 - 1  # PostgreSQL integer columns


def is_clean_text(value: str) -> bool:
    """No NUL, and encodable as UTF-8 (so no lone surrogate)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_clean_bytes(raw: bytes) -> bool:
    """Percent-decoded `raw` is UTF-8 without NUL."""
    decoded = unquote_to_bytes(raw)
    if b"\x00" in decoded:
        return False
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class MalformedInputMiddleware:
    """400 invalid_request for a path or query string that is not clean UTF-8 text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            if not (is_clean_bytes(raw_path) and is_clean_bytes(scope.get("query_string", b""))):
                await send_invalid_request(send, 400, "the URL is not valid UTF-8 text")
                return
        await self.app(scope, receive, send)
