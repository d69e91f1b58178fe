"""Device authorization requests (RFC 8628): found by the digest of either code, answered and
redeemed by conditional UPDATEs so two answers or two redemptions cannot both win."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.repositories.upsert import insert_for
from shared.models import DeviceAuthorization
from shared.models.device_authorizations import APPROVED, PENDING


class DeviceAuthorizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: DeviceAuthorization) -> bool:
        """Insert `row`; False when its user code is already taken (the caller draws another)."""
        values = {name: getattr(row, name) for name in DeviceAuthorization.model_fields}
        result = await self.session.exec(
            insert_for(self.session, DeviceAuthorization)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["user_code_hash"])
        )
        return bool(result.rowcount == 1)

    async def get_by_device_code_hash(self, device_code_hash: str) -> DeviceAuthorization | None:
        return await self.session.get(DeviceAuthorization, device_code_hash)

    async def get_by_user_code_hash(self, user_code_hash: str) -> DeviceAuthorization | None:
        result = await self.session.exec(
            select(DeviceAuthorization).where(
                col(DeviceAuthorization.user_code_hash) == user_code_hash
            )
        )
        return result.first()

    async def decide(
        self,
        device_code_hash: str,
        status: str,
        now: datetime,
        *,
        user_id: str,
        auth_time: datetime | None = None,
    ) -> bool:
        """Record the user's answer to a pending, unexpired request; True for exactly one caller."""
        result = await self.session.exec(
            update(DeviceAuthorization)
            .where(
                col(DeviceAuthorization.device_code_hash) == device_code_hash,
                col(DeviceAuthorization.status) == PENDING,
                col(DeviceAuthorization.expires_at) > now,
            )
            .values(
                status=status,
                decided_at=now,
                user_id=user_id,
                auth_time=auth_time,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)

    async def link_grant(self, device_code_hash: str, grant_id: str) -> None:
        """Name the token family an approval started (the caller decided it just before)."""
        await self.session.exec(
            update(DeviceAuthorization)
            .where(col(DeviceAuthorization.device_code_hash) == device_code_hash)
            .values(grant_id=grant_id)
            .execution_options(synchronize_session=False)
        )

    async def note_poll(
        self, device_code_hash: str, previous: datetime | None, now: datetime, interval: int
    ) -> bool:
        """Note a poll at `now` with the interval that now holds, if no other poll was noted
        since `previous` (the value read); False means a concurrent poll got there first."""
        last = col(DeviceAuthorization.last_polled_at)
        result = await self.session.exec(
            update(DeviceAuthorization)
            .where(
                col(DeviceAuthorization.device_code_hash) == device_code_hash,
                last.is_(None) if previous is None else last == previous,
            )
            .values(last_polled_at=now, interval=interval)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)

    async def redeem(self, device_code_hash: str, now: datetime) -> DeviceAuthorization | None:
        """Mark an approved request redeemed and return it; None when it was redeemed before
        (or is not approved). One UPDATE, so only one of any number of concurrent polls wins."""
        result = await self.session.exec(
            update(DeviceAuthorization)
            .where(
                col(DeviceAuthorization.device_code_hash) == device_code_hash,
                col(DeviceAuthorization.status) == APPROVED,
                col(DeviceAuthorization.used_at).is_(None),
            )
            .values(used_at=now)
            .returning(DeviceAuthorization)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        return result.scalars().first()

    async def delete_expired(self, before: datetime) -> int:
        result = await self.session.exec(
            delete(DeviceAuthorization).where(col(DeviceAuthorization.expires_at) < before)
        )
        return int(result.rowcount or 0)
