"""Response headers that keep our pages out of frames and our URLs out of Referer (RFC 9700 §4.16, §4.2.4)."""

from __future__ import annotations

from shared.api_docs import DOCS_PATH
from shared.asgi import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: scripts only from our own /static (passkeys.js), and
# fetches only to ourselves. The API docs (shared/api_docs.py) send their own policy.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
)

_COMMON = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


_PAGE_HEADERS = [*_COMMON, (b"content-security-policy", PAGE_CSP.encode())]
_DOCS_HEADERS = _COMMON


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        is_docs = path == DOCS_PATH or path.startswith(DOCS_PATH + "/")
        extra = _DOCS_HEADERS if is_docs else _PAGE_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).extend(extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)
