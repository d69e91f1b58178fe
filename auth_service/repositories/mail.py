"""The mail outbox and the tokens of mailed links."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.security.secrets import hash_token, new_token
from shared.models import MailedToken, MailMessage


class MailRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: MailMessage) -> None:
        self.session.add(message)
        await self.session.flush()

    async def due(self, now: datetime, limit: int) -> Sequence[MailMessage]:
        result = await self.session.exec(
            select(MailMessage)
            .where(col(MailMessage.next_attempt_at) <= now, col(MailMessage.failed_at).is_(None))
            .order_by(col(MailMessage.next_attempt_at))
            .limit(limit)
        )
        return result.all()

    async def claim(self, message: MailMessage, until: datetime) -> bool:
        """Take `message` for one attempt until `until`; False if another instance took it.

        A conditional UPDATE on the time it was read with (architecture: single use by the
        database), so two instances never send one message at the same moment; if the sender
        dies mid-attempt, the message is due again once `until` passes (at least once)."""
        result = await self.session.exec(
            update(MailMessage)
            .where(
                col(MailMessage.id) == message.id,
                col(MailMessage.next_attempt_at) == message.next_attempt_at,
                col(MailMessage.failed_at).is_(None),
            )
            .values(next_attempt_at=until)
        )
        return bool(result.rowcount == 1)

    async def delete(self, message_id: str) -> None:
        await self.session.exec(delete(MailMessage).where(col(MailMessage.id) == message_id))

    async def attempt_failed(
        self, message_id: str, *, attempts: int, error: str, retry_at: datetime | None,
        now: datetime,
    ) -> None:  # fmt: skip
        """Record a failed attempt: due again at `retry_at`, or given up (None)."""
        values: dict[str, object] = {"attempts": attempts, "last_error": error[:300]}
        if retry_at is None:
            values["failed_at"] = now
        else:
            values["next_attempt_at"] = retry_at
        await self.session.exec(
            update(MailMessage).where(col(MailMessage.id) == message_id).values(**values)
        )

    async def list_recent(self, limit: int) -> Sequence[MailMessage]:
        result = await self.session.exec(
            select(MailMessage).order_by(col(MailMessage.created_at).desc()).limit(limit)
        )
        return result.all()


class MailedTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(
        self, *, purpose: str, user_id: str, ttl: timedelta, now: datetime,
        address: str | None = None,
    ) -> str:  # fmt: skip
        """A new 256-bit token for a mailed link; only its digest is stored."""
        token = new_token()
        self.session.add(
            MailedToken(
                token_hash=hash_token(token),
                purpose=purpose,
                user_id=user_id,
                created_at=now,
                expires_at=now + ttl,
                address=address,
            )  # fmt: skip
        )
        await self.session.flush()
        return token

    async def get_live(self, token_hash: str, purpose: str, now: datetime) -> MailedToken | None:
        result = await self.session.exec(
            select(MailedToken).where(
                col(MailedToken.token_hash) == token_hash,
                col(MailedToken.purpose) == purpose,
                col(MailedToken.used_at).is_(None),
                col(MailedToken.expires_at) > now,
            )
        )
        return result.first()

    async def use(self, token_hash: str, purpose: str, now: datetime) -> bool:
        """Spend the token: one conditional UPDATE, so two submissions cannot both win."""
        result = await self.session.exec(
            update(MailedToken)
            .where(
                col(MailedToken.token_hash) == token_hash,
                col(MailedToken.purpose) == purpose,
                col(MailedToken.used_at).is_(None),
                col(MailedToken.expires_at) > now,
            )
            .values(used_at=now)
        )
        return bool(result.rowcount == 1)

    async def delete_for_user(self, user_id: str, purpose: str) -> None:
        await self.session.exec(
            delete(MailedToken).where(
                col(MailedToken.user_id) == user_id, col(MailedToken.purpose) == purpose
            )
        )

    async def delete_expired(self, before: datetime) -> int:
        result = await self.session.exec(
            delete(MailedToken).where(col(MailedToken.expires_at) < before)
        )
        return int(result.rowcount or 0)
