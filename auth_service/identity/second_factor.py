"""The user's second factor: TOTP enrolment with recovery codes, verification and removal."""

from __future__ import annotations

from datetime import datetime

from auth_service.repositories import Repositories
from auth_service.security import recovery_codes, totp
from auth_service.security.secret_box import SecretBox
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
    return await new_recovery_codes(repos, box, user, now)


async def new_recovery_codes(
    repos: Repositories, box: SecretBox, user: User, now: datetime
) -> list[str]:
    """Ten fresh codes, replacing every earlier one; only their keyed digests are stored."""
    key = box.derive_key(recovery_codes.KEY_PURPOSE)
    codes = totp.new_recovery_codes()
    digests = [recovery_codes.recovery_code_digest(key, user.id, c.replace("-", "")) for c in codes]
    await repos.recovery_codes.replace(user.id, digests, now)
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
    if len(recovery) == 12:
        key = box.derive_key(recovery_codes.KEY_PURPOSE)
        digests = [
            recovery_codes.recovery_code_digest(key, user.id, recovery),
            recovery_codes.legacy_digest(recovery),  # codes made before keyed digests
        ]
        if await repos.recovery_codes.consume(user.id, digests, now):
            return "recovery"
    return None


async def remove(repos: Repositories, user: User, now: datetime) -> None:
    await repos.users.set_totp(user.id, secret=None, enabled_at=None, now=now)
    await repos.recovery_codes.delete_all(user.id)
