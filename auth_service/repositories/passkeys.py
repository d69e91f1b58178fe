"""Passkeys and the challenges of their ceremonies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import Passkey, PasskeyChallenge


@dataclass(frozen=True, slots=True)
class TakenChallenge:
    user_id: str | None


class PasskeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, passkey: Passkey) -> bool:
        """False if the credential id is registered already (a concurrent registration won)."""
        try:
            # A savepoint: losing the race must not undo the whole request.
            async with self.session.begin_nested():
                self.session.add(passkey)
        except IntegrityError:
            return False
        return True

    async def get(self, credential_id: str) -> Passkey | None:
        return await self.session.get(Passkey, credential_id)

    async def list_for_user(self, user_id: str) -> Sequence[Passkey]:
        result = await self.session.exec(
            select(Passkey).where(col(Passkey.user_id) == user_id).order_by(col(Passkey.created_at))
        )
        return result.all()

    async def delete(self, user_id: str, credential_id: str) -> bool:
        result = await self.session.exec(
            delete(Passkey).where(
                col(Passkey.user_id) == user_id, col(Passkey.credential_id) == credential_id
            )
        )
        return bool(result.rowcount == 1)

    async def delete_all_for_user(self, user_id: str) -> int:
        result = await self.session.exec(delete(Passkey).where(col(Passkey.user_id) == user_id))
        return int(result.rowcount or 0)

    async def record_use(
        self, passkey: Passkey, *, sign_count: int, backed_up: bool, now: datetime
    ) -> bool:
        """Store the new signature counter, only if no other sign-in moved it meanwhile (a
        conditional UPDATE on the value read): False means two uses raced, or a clone."""
        result = await self.session.exec(
            update(Passkey)
            .where(
                col(Passkey.credential_id) == passkey.credential_id,
                col(Passkey.sign_count) == passkey.sign_count,
            )
            .values(sign_count=sign_count, backed_up=backed_up, last_used_at=now)
        )
        return bool(result.rowcount == 1)


class PasskeyChallengeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, challenge: PasskeyChallenge) -> None:
        self.session.add(challenge)
        await self.session.flush()

    async def take(
        self, challenge_hash: str, *, purpose: str, binding: str, now: datetime
    ) -> TakenChallenge | None:
        """Spend a live challenge of `purpose` bound to `binding`: one DELETE ... RETURNING, so
        two answers to one challenge cannot both count."""
        result = await self.session.exec(
            delete(PasskeyChallenge)
            .where(
                col(PasskeyChallenge.challenge_hash) == challenge_hash,
                col(PasskeyChallenge.purpose) == purpose,
                col(PasskeyChallenge.binding) == binding,
                col(PasskeyChallenge.expires_at) > now,
            )
            .returning(col(PasskeyChallenge.user_id))
        )
        row = result.first()
        return None if row is None else TakenChallenge(row[0])

    async def delete_expired(self, now: datetime) -> int:
        result = await self.session.exec(
            delete(PasskeyChallenge).where(col(PasskeyChallenge.expires_at) <= now)
        )
        return int(result.rowcount or 0)
