"""The user's second factor: TOTP enrolment with recovery codes, verification and removal."""

from __future__ import annotations

from datetime import datetime

from auth_service.repositories import Repositories
from auth_service.security import totp
from auth_service.security.secret_box import SecretBox
from auth_service.security.secrets import hash_token
from shared.models import User


async def start_enrolment(repos: Repositories, box: SecretBox, user: User, now: datetime) -> str:
    """The secret to enrol: stored (encrypted) but not enabled until the user proves they have it.

    A pending one is shown again rather than replaced, so a reload or a second tab does not
    invalidate the code the user just scanned (and a GET has no lasting effect to forge).
    """
    pending = pending_secret(box, user)
    if pending is not None:
        return pending
    secret = totp.new_secret()
    await repos.users.set_totp(user.id, secret=box.encrypt(secret), enabled_at=None, now=now)
    return secret


def pending_secret(box: SecretBox, user: User) -> str | None:
    if user.totp_secret is None or user.has_second_factor:
        return None
    return box.decrypt(user.totp_secret)


async def confirm_enrolment(
    repos: Repositories, box: SecretBox, user: User, code: str, now: datetime
) -> list[str] | None:
    """Enable TOTP when `code` matches the pending secret; returns the recovery codes, shown once."""
    secret = pending_secret(box, user)
    if secret is None:
        return None
    step = totp.matching_step(secret, code, now, last_step=None)
    if step is None:
        return None
    await repos.users.set_totp(user.id, secret=user.totp_secret, enabled_at=now, now=now)
    await repos.users.use_totp_step(user.id, step)
    codes = totp.new_recovery_codes()
    await repos.recovery_codes.replace(
        user.id, [hash_token(c.replace("-", "")) for c in codes], now
    )
    return codes


async def verify(
    repos: Repositories, box: SecretBox, user: User, code: str, now: datetime
) -> str | None:
    """The method that matched ("otp" or "recovery"), or None. Each code works once."""
    if not user.has_second_factor or user.totp_secret is None:
        return None
    secret = box.decrypt(user.totp_secret)
    if secret is not None:
        step = totp.matching_step(secret, code, now, last_step=user.totp_last_step)
        # The conditional update settles races: two requests with one code, one wins.
        if step is not None and await repos.users.use_totp_step(user.id, step):
            return "otp"
    recovery = totp.normalize_recovery_code(code).replace("-", "")
    if len(recovery) == 12 and await repos.recovery_codes.consume(
        user.id, hash_token(recovery), now
    ):
        return "recovery"
    return None


async def remove(repos: Repositories, user: User, now: datetime) -> None:
    await repos.users.set_totp(user.id, secret=None, enabled_at=None, now=now)
    await repos.recovery_codes.delete_all(user.id)
