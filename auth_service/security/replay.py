"""Single-use `jti`s for the auth service: in Redis when REDIS_URL is set (across every instance
at once), else in the database (across every instance sharing it, inside the request's own
transaction: a request that fails and rolls back leaves its jti unused, and it issued nothing).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from auth_service.repositories import Repositories
from shared.replay import ReplayGuard, replay_key


async def first_use(
    repos: Repositories,
    redis_guard: ReplayGuard | None,
    *,
    purpose: str,
    issuer: str,
    jti: str,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """True the first time (purpose, issuer, jti) is seen before `expires_at`."""
    key = replay_key(purpose, issuer, jti)
    lifetime = max(expires_at - now, timedelta(seconds=1))
    if redis_guard is not None:
        return await redis_guard.first_use(key, lifetime.total_seconds())
    return await repos.used_jtis.first_use(key, now + lifetime, now)
