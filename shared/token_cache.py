"""Claims of access tokens already verified, so each token's signature is checked once.

Signature, issuer, audience and type never change for a given token string; only time does. So a
cache keyed by the whole token string (never by a part of it, which could be recombined) may
hand back the claims, and the caller re-checks `exp`/`nbf` and the deny list on every request.
"""

from __future__ import annotations

from shared.claims import AccessTokenClaims


class VerifiedTokenCache:
    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._entries: dict[str, AccessTokenClaims] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float, leeway: int) -> AccessTokenClaims | None:
        """The claims if `token` was verified before and is still within its validity window."""
        claims = self._entries.get(token)
        if claims is None:
            return None
        if claims.exp <= now - leeway or (claims.nbf is not None and claims.nbf > now + leeway):
            del self._entries[token]
            return None
        return claims

    def put(self, token: str, claims: AccessTokenClaims) -> None:
        if self._max_entries <= 0:
            return
        if len(self._entries) >= self._max_entries:
            # Oldest first: dicts keep insertion order, and the oldest expire first anyway.
            del self._entries[next(iter(self._entries))]
        self._entries[token] = claims
