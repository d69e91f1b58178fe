"""Single-use `jti`s for the auth service: in Redis when REDIS_URL is set (across every instance
at once), else in the database (across every instance sharing it).

In the database, a request that holds no transaction yet (a client_credentials request served
from memory, say) has its jti committed in a batch with those of other requests of the same
moment before it goes on (`security.jti_batch`): a failure later leaves the jti spent. A request
already inside a transaction records it there: one that fails and rolls back leaves its jti
unused, and it issued nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from auth_service.repositories import Repositories
from auth_service.security.jti_batch import DatabaseJtiBatch
from auth_service.unit_of_work import UnitOfWork
from shared.replay import ReplayGuard, replay_key


async def first_use(
    store: Repositories | UnitOfWork,
    guard: ReplayGuard | None,
    *,
    purpose: str,
    issuer: str,
    jti: str,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """True the first time (purpose, issuer, jti) is seen before `expires_at`. `store` is the
    request's repositories, or its unit of work, whose session is then made only if the jti
    is recorded in it (a batch or Redis needs none)."""
    key = replay_key(purpose, issuer, jti)
    lifetime = max(expires_at - now, timedelta(seconds=1))
    in_transaction = (
        store.in_transaction() if isinstance(store, UnitOfWork) else store.session.in_transaction()
    )
    if guard is not None and not (
        # On SQLite the open transaction holds the one connection a batch would wait for.
        isinstance(guard, DatabaseJtiBatch) and in_transaction
    ):
        return await guard.first_use(key, lifetime.total_seconds())
    repos = store.repos if isinstance(store, UnitOfWork) else store
    return await repos.used_jtis.first_use(key, now + lifetime, now)
