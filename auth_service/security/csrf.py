"""CSRF tokens for our own forms (RFC 9700 §4.4): a MAC keyed by a per-browser cookie.

The token binds the form to the browser (its cookie, which other sites can neither read nor send
with a cross-site POST under SameSite=Lax), to the session and to the pending request.
"""

from __future__ import annotations

import hashlib
import hmac


def csrf_token(browser_key: str, *, purpose: str, session_hash: str | None, request_id: str) -> str:
    message = "\x1f".join((purpose, session_hash or "", request_id)).encode("utf-8")
    return hmac.new(browser_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def csrf_token_matches(
    token: str, browser_key: str, *, purpose: str, session_hash: str | None, request_id: str
) -> bool:
    expected = csrf_token(
        browser_key, purpose=purpose, session_hash=session_hash, request_id=request_id
    )
    return hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))
