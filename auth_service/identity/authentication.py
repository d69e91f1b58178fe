"""Who the user is: password login (constant work for unknown names) and server-side sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from auth_service.identity.browsers import BrowserInfo
from auth_service.repositories import Repositories
from auth_service.security.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from auth_service.security.secrets import hash_token, new_token
from shared.models import User, UserSession

SECOND_FACTOR_WINDOW = 300  # seconds to enter the code after the password


async def authenticate_user(
    repos: Repositories, hasher: PasswordHasher, username: str, password: str, now: datetime
) -> User | None:
    """The user if the password is right. Every path costs one password verification, except a
    password longer than any that can be set: it is refused before any work, whoever the user."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
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


@dataclass(frozen=True, slots=True)
class SessionLifetime:
    """`ttl`: the absolute limit from sign-in; `idle`: how long a session lasts unused.

    A session row's `expires_at` is the nearer of the two, moved on as the session is used, so
    every reader (and the cleanup job) checks one column (OWASP Session Management Cheat Sheet,
    "Idle Timeout" and "Absolute Timeout"; ASVS 5.0 V7.3.1, V7.3.2).
    """

    ttl: int
    idle: int

    def expires_at(self, created_at: datetime, now: datetime) -> datetime:
        return min(now + timedelta(seconds=self.idle), created_at + timedelta(seconds=self.ttl))


# Moving `expires_at` on is a write: done at most once a minute per session, not per request.
IDLE_TOUCH_STEP = timedelta(seconds=60)


async def start_session(
    repos: Repositories,
    user: User,
    *,
    now: datetime,
    lifetime: SessionLifetime,
    replaces: str | None = None,
    second_factor_pending: bool = False,
    amr: str = "pwd",
    browser: BrowserInfo | None = None,
) -> NewSession:
    """A fresh random session id on every login step, so a planted id is never promoted (fixation).

    With `second_factor_pending` the session only proves the password and lives a few minutes.
    """
    if replaces is not None:
        await repos.sessions.delete(hash_token(replaces))
    cookie_value = new_token()
    if second_factor_pending:
        expires_at = now + timedelta(seconds=SECOND_FACTOR_WINDOW)
    else:
        expires_at = lifetime.expires_at(now, now)
    session = await repos.sessions.add(
        id_hash=hash_token(cookie_value),
        user_id=user.id,
        auth_time=now,
        expires_at=expires_at,
        now=now,
        second_factor_pending=second_factor_pending,
        amr=amr,
        user_agent=browser.user_agent if browser else None,
        ip=browser.ip if browser else None,
    )
    return NewSession(cookie_value, session)


async def rotate_session(repos: Repositories, current: UserSession, *, now: datetime) -> NewSession:
    """The same login under a new random id; the old id stops working at once.

    After a credential changes, a copy of the cookie taken earlier (a shared computer, a leaked
    log) must not ride on into the newly protected account (ASVS 5.0 V7.2.4).
    """
    await repos.sessions.delete(current.id_hash)
    cookie_value = new_token()
    session = await repos.sessions.add(
        id_hash=hash_token(cookie_value),
        user_id=current.user_id,
        auth_time=current.auth_time,
        expires_at=current.expires_at,
        now=current.created_at,  # the absolute limit still counts from the sign-in
        second_factor_pending=False,
        amr=current.amr,
        user_agent=current.user_agent,
        ip=current.ip,
        last_seen_at=now,
    )
    return NewSession(cookie_value, session)


async def current_session(
    repos: Repositories,
    cookie_value: str | None,
    now: datetime,
    *,
    second_factor_pending: bool = False,
    lifetime: SessionLifetime | None = None,
) -> UserSession | None:
    """The live session the cookie names; with `lifetime`, using it moves its idle end on."""
    if not cookie_value or len(cookie_value) > 128:
        return None
    session = await repos.sessions.get_active(
        hash_token(cookie_value), now, second_factor_pending=second_factor_pending
    )
    if session is not None and lifetime is not None and not second_factor_pending:
        expires_at = lifetime.expires_at(session.created_at, now)
        # Either way: a longer idle window moves it on, a shorter one (settings lowered, rows
        # from before idle timeouts) takes effect on the next request.
        if abs(expires_at - session.expires_at) >= IDLE_TOUCH_STEP:
            await repos.sessions.set_expiry(session, expires_at, seen_at=now)
        if expires_at <= now:
            return None
    return session
