"""Users and their sessions."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import User, UserSession


def normalize_username(username: str) -> str:
    return username.strip().lower()


def normalize_email(email: str) -> str:
    """NFKC first, so full-width letters, ligatures and other compatibility forms of an address
    compare and store as the plain form (Unicode UAX 15; RFC 8265 section 3.3 applies the same
    rule to user names)."""
    return unicodedata.normalize("NFKC", email).strip().lower()


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, user_id: str) -> None:
        """Hold the account's row until the transaction ends (SELECT ... FOR UPDATE; on SQLite
        every transaction already holds the one write lock), so checks and changes of the
        account's ways in by two requests at once run one after the other."""
        await self.session.exec(select(User.id).where(col(User.id) == user_id).with_for_update())

    async def get_by_id(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_username(self, username: str) -> User | None:
        result = await self.session.exec(
            select(User).where(User.username == normalize_username(username))
        )
        return result.first()

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.exec(select(User).where(User.email == normalize_email(email)))
        return result.first()

    async def add(
        self, *, username: str, email: str, name: str, password_hash: str, now: datetime
    ) -> User:
        user = User(
            username=normalize_username(username),
            email=normalize_email(email),
            name=name,
            password_hash=password_hash,
            created_at=now,
            updated_at=now,
        )
        self.session.add(user)
        await self.session.flush()
        return user

    async def update_profile(self, user: User, *, name: str, email: str, now: datetime) -> bool:
        """Save name and email; False if another account took the email meanwhile.

        A new address is unverified until proven (OIDC Core §5.1 `email_verified`).
        """
        email = normalize_email(email)
        values: dict[str, object] = {"name": name, "email": email, "updated_at": now}
        if email != user.email:
            values["email_verified"] = False
        try:
            # A savepoint: losing the race for a unique email must not undo the whole request.
            async with self.session.begin_nested():
                await self.session.exec(
                    update(User).where(col(User.id) == user.id).values(**values)
                )
        except IntegrityError:
            return False
        return True

    async def set_totp(
        self, user_id: str, *, secret: str | None, enabled_at: datetime | None, now: datetime
    ) -> None:
        await self.session.exec(
            update(User)
            .where(col(User.id) == user_id)
            .values(
                totp_secret=secret, totp_enabled_at=enabled_at, totp_last_step=None, updated_at=now
            )
        )

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        """Record `step` as used; False if it (or a later one) was used already: a replay."""
        result = await self.session.exec(
            update(User)
            .where(
                col(User.id) == user_id,
                or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step),
            )
            .values(totp_last_step=step)
        )
        return result.rowcount == 1

    async def mark_email_verified(self, user_id: str, email: str, now: datetime) -> bool:
        """Verified only while the account still has `email`: False if it moved on since."""
        result = await self.session.exec(
            update(User)
            .where(col(User.id) == user_id, col(User.email) == email)
            .values(email_verified=True, updated_at=now)
        )
        return bool(result.rowcount == 1)

    async def delete(self, user_id: str) -> None:
        """The row, and through ON DELETE CASCADE everything that hangs on it: sessions, grants
        and their refresh tokens and codes, consents, recovery codes, mailed links, device
        authorizations, and (the resource service's, in a shared database) notes."""
        await self.session.exec(delete(User).where(col(User.id) == user_id))

    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        await self.session.exec(
            update(User)
            .where(col(User.id) == user_id)
            .values(password_hash=password_hash, updated_at=now)
        )


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        id_hash: str,
        user_id: str,
        auth_time: datetime,
        expires_at: datetime,
        now: datetime,
        second_factor_pending: bool = False,
        amr: str = "pwd",
        user_agent: str | None = None,
        ip: str | None = None,
        last_seen_at: datetime | None = None,
    ) -> UserSession:
        row = UserSession(
            id_hash=id_hash,
            user_id=user_id,
            created_at=now,
            auth_time=auth_time,
            expires_at=expires_at,
            second_factor_pending=second_factor_pending,
            amr=amr,
            user_agent=user_agent,
            ip=ip,
            last_seen_at=last_seen_at or now,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def get_active(
        self, id_hash: str, now: datetime, *, second_factor_pending: bool = False
    ) -> UserSession | None:
        """A live session; by default only a complete login, not one awaiting its second factor."""
        result = await self.session.exec(
            select(UserSession).where(
                UserSession.id_hash == id_hash,
                UserSession.expires_at > now,
                UserSession.second_factor_pending == second_factor_pending,
            )
        )
        return result.first()

    async def delete(self, id_hash: str) -> None:
        await self.session.exec(delete(UserSession).where(col(UserSession.id_hash) == id_hash))

    async def set_expiry(
        self, row: UserSession, expires_at: datetime, *, seen_at: datetime | None = None
    ) -> None:
        row.expires_at = expires_at
        if seen_at is not None:
            row.last_seen_at = seen_at
        await self.session.flush()

    async def list_signed_in(self, user_id: str, now: datetime) -> Sequence[UserSession]:
        """The user's live, complete sign-ins (not those awaiting a second factor), newest first."""
        result = await self.session.exec(
            select(UserSession)
            .where(
                col(UserSession.user_id) == user_id,
                col(UserSession.expires_at) > now,
                col(UserSession.second_factor_pending).is_(False),
            )
            .order_by(col(UserSession.created_at).desc())
        )
        return result.all()

    async def delete_expired(self, now: datetime) -> int:
        result = await self.session.exec(
            delete(UserSession).where(col(UserSession.expires_at) < now)
        )
        return result.rowcount

    async def delete_all_for_user(self, user_id: str, *, except_hash: str | None = None) -> None:
        statement = delete(UserSession).where(col(UserSession.user_id) == user_id)
        if except_hash is not None:
            statement = statement.where(col(UserSession.id_hash) != except_hash)
        await self.session.exec(statement)
