"""Asking a signed-in user for their password again, before a change that needs it.

Whoever holds a stolen session cookie could otherwise guess the password through these forms
as fast as they liked; failures here slow the next attempt exactly as failed logins do
(OWASP ASVS V2.2.1), counted per user.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from auth_service.security.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from auth_service.throttling.policy import Throttle
from shared.errors import TooManyRequestsError
from shared.models import User

BUCKET = "password-recheck"


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    throttled: TooManyRequestsError | None = None


async def recheck_password(
    throttle: Throttle, hasher: PasswordHasher, user: User, password: str
) -> PasswordCheck:
    try:
        await throttle.check_delay(BUCKET, user.id)
    except TooManyRequestsError as error:
        return PasswordCheck(ok=False, throttled=error)
    # Longer than any password that can be set: wrong, and not worth a hash.
    if (
        len(password) <= MAX_PASSWORD_LENGTH
        and (await hasher.verify(password, user.password_hash)).ok
    ):
        await throttle.succeeded(BUCKET, user.id)
        return PasswordCheck(ok=True)
    await throttle.failed(BUCKET, user.id)
    return PasswordCheck(ok=False)


def too_many_attempts(error: TooManyRequestsError) -> str:
    unit = "second" if error.retry_after == 1 else "seconds"
    return f"Too many attempts. Try again in {error.retry_after} {unit}."


def with_retry_after(response: Response, error: TooManyRequestsError) -> Response:
    """RFC 9110 §10.2.3, on a 429 page (RFC 6585 §4)."""
    response.headers["Retry-After"] = str(error.retry_after)
    return response
