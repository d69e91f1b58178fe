"""Who the user is: password login (constant work for unknown names) and server-side sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from auth_service.repositories import Repositories
from auth_service.security.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from auth_service.security.secrets import hash_token, new_token
from shared.models import User, UserSession

SECOND_FACTOR_WINDOW = 300  # seconds to enter the code after the password


async def authenticate_user(
    repos: Repositories, hasher: PasswordHasher, username: str, password: str, now: datetime
) -> User | None:
    """The user if the password is right. Every path costs one password verification."""
    if len(password) > MAX_PASSWORD_LENGTH:
        password = password[:MAX_PASSWORD_LENGTH]  # bounded work; such a password never matches
    user = await repos.users.get_by_username(username)
    if user is None:
        await hasher.dummy_verify(password)
        return None
    check = await hasher.verify(password, user.password_hash)
    if not check.ok:
        return None
    if check.new_hash is not None:
        await repos.users.set_password_hash(user.id, check.new_hash, now)
    return user


@dataclass(frozen=True, slots=True)
class NewSession:
    cookie_value: str
    session: UserSession


async def start_session(
    repos: Repositories,
    user: User,
    *,
    now: datetime,
    ttl: int,
    replaces: str | None = None,
    second_factor_pending: bool = False,
    amr: str = "pwd",
) -> NewSession:
    """A fresh random session id on every login step, so a planted id is never promoted (fixation).

    With `second_factor_pending` the session only proves the password and lives a few minutes.
    """
    if replaces is not None:
        await repos.sessions.delete(hash_token(replaces))
    cookie_value = new_token()
    session = await repos.sessions.add(
        id_hash=hash_token(cookie_value),
        user_id=user.id,
        auth_time=now,
        expires_at=now + timedelta(seconds=SECOND_FACTOR_WINDOW if second_factor_pending else ttl),
        now=now,
        second_factor_pending=second_factor_pending,
        amr=amr,
    )
    return NewSession(cookie_value, session)


async def current_session(
    repos: Repositories,
    cookie_value: str | None,
    now: datetime,
    *,
    second_factor_pending: bool = False,
) -> UserSession | None:
    if not cookie_value or len(cookie_value) > 128:
        return None
    return await repos.sessions.get_active(
        hash_token(cookie_value), now, second_factor_pending=second_factor_pending
    )
