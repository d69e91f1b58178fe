"""High-entropy credentials and their storage form: a SHA-256 digest compared in constant time.

Codes, refresh tokens, client secrets and session ids carry 256 bits of entropy, so a fast hash
is all that storage needs; a slow password hash would only cap the token endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    if stored_hash is None:
        return False
    return hmac.compare_digest(hash_token(token), stored_hash)
