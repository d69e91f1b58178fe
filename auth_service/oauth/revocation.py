"""Revocation of token families (RFC 9700 §4.14.2, RFC 6749 §4.1.2)."""

from __future__ import annotations

from datetime import datetime

from auth_service.repositories import Repositories


async def revoke_family(repos: Repositories, grant_id: str, now: datetime) -> None:
    """Revoke a grant and every refresh token of it; its access tokens die with the grant id."""
    await repos.grants.lock(grant_id)  # family lock first, as every other writer of the family
    await repos.grants.revoke(grant_id, now)
    await repos.refresh_tokens.revoke_grant(grant_id, now)
