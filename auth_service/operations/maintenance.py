"""Background work of an auth instance: follow the key schedule, rotate keys, delete expired rows.

Reloading the key schedule runs on every instance. Rotation and cleanup run once per interval for
the whole cluster: each instance tries, under a database lock, and the `scheduled_job` row says
whether the interval has passed since the last run anywhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.config import AuthSettings
from auth_service.operations.key_lifecycle import KeyStore, algs_due, rotate_signing_keys
from auth_service.repositories import Repositories
from auth_service.security.keys import KeySet, delete_private_key

logger = logging.getLogger(__name__)
ROTATION_JOB = "rotate-signing-key"
CLEANUP_JOB = "delete-expired-rows"
# Expired rows linger a day so reuse of an expired code or token is still recognised as such.
GRACE = timedelta(days=1)


class Maintenance:
    def __init__(
        self,
        settings: AuthSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        key_store: KeyStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.key_store = key_store
        self.clock = clock
        self._schedule: tuple[tuple[str, datetime, datetime | None], ...] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks.append(
            asyncio.create_task(self._every(self.settings.key_reload_interval, self.reload_keys))
        )
        if self.settings.key_rotation_interval:
            interval = min(60.0, self.settings.key_rotation_interval / 10)
            self._tasks.append(asyncio.create_task(self._every(interval, self.rotate_if_due)))
        self._tasks.append(
            asyncio.create_task(self._every(self.settings.maintenance_interval, self.clean_up))
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as exc:  # noqa: BLE001 - a database outage must not end the loop
                logger.warning("background job %s failed: %s", job.__name__, type(exc).__name__)

    async def reload_keys(self) -> bool:
        """Pick up keys created or retired by another instance or the CLI; True if anything changed."""
        async with self.sessionmaker() as session:
            rows = await Repositories.over(session).signing_keys.list_all()
        schedule = tuple((r.kid, r.activates_at, r.retires_at) for r in rows)
        if schedule == self._schedule:
            return False
        self.key_store.replace(KeySet.load(rows, self.settings.key_dir))
        self._schedule = schedule
        return True

    async def rotate_if_due(self) -> bool:
        interval = timedelta(seconds=self.settings.key_rotation_interval)
        async with self.sessionmaker() as session:
            repos = Repositories.over(session)
            now = self.clock()
            if not await repos.jobs.try_lock(ROTATION_JOB):
                return False
            held = self.settings.signing_algs
            due = algs_due(await repos.signing_keys.list_all(), held, now - interval)
            if not due:
                return False
            keys = await rotate_signing_keys(
                repos,
                self.settings.key_dir,
                algs=due,
                held=held,
                clock=self.clock,
                activation_delay=self.settings.key_activation_delay,
            )
            await repos.jobs.mark_run(ROTATION_JOB, keys[0].created_at)
            await session.commit()
        logger.info("scheduled key rotation", extra={"fields": {"kids": [k.kid for k in keys]}})
        await self.reload_keys()
        return True

    async def clean_up(self) -> dict[str, int]:
        async with self.sessionmaker() as session:
            repos = Repositories.over(session)
            now = self.clock()
            interval = timedelta(seconds=self.settings.maintenance_interval)
            if not await repos.jobs.try_lock(CLEANUP_JOB) or not await repos.jobs.is_due(
                CLEANUP_JOB, interval * 0.9, now
            ):
                return {}
            counts = await _delete_expired(
                repos,
                now,
                Path(self.settings.key_dir),
                timedelta(days=self.settings.audit_retention_days),
                timedelta(seconds=self.settings.pending_request_ttl),
            )
            await repos.jobs.mark_run(CLEANUP_JOB, now)
            await session.commit()
        logger.info("deleted expired rows", extra={"fields": counts})
        return counts


async def _delete_expired(
    repos: Repositories,
    now: datetime,
    key_dir: Path,
    audit_retention: timedelta,
    pending_ttl: timedelta,
) -> dict[str, int]:
    old = now - GRACE
    counts = {
        "pending_authorizations": await repos.pending.delete_expired(now),
        # RFC 9126 §4: a sign-in that began before the request_uri expired may still use it up,
        # and only its row can tell that it was; so rows outlive every pending request.
        "pushed_authorization_requests": await repos.pushed.delete_expired(now - pending_ttl),
        "used_jtis": await repos.used_jtis.delete_expired(now),
        "authorization_codes": await repos.codes.delete_expired(old),
        # Kept a day past expiry like codes: a late poll still gets expired_token, a reuse
        # invalid_grant, and the user a clear page (RFC 8628 §3.5).
        "device_authorizations": await repos.devices.delete_expired(old),
        "refresh_tokens": await repos.refresh_tokens.delete_expired(old),
        "grants": await repos.grants.delete_stale(old),
        "sessions": await repos.sessions.delete_expired(now),
        "mailed_tokens": await repos.mailed_tokens.delete_expired(old),
        "passkey_challenges": await repos.passkey_challenges.delete_expired(now),
        "revocation_events": await repos.revocations.delete_expired(now),
        "audit_events": await repos.audit.delete_older_than(now - audit_retention),
    }
    retired = await repos.signing_keys.retired_before(old)
    for key in retired:
        await repos.signing_keys.delete(key.kid)
        delete_private_key(key_dir, key.kid)
    counts["signing_keys"] = len(retired)
    return counts
