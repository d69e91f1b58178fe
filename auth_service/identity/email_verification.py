"""Proving an email address (OIDC Core §5.1 `email_verified`): a mailed link, single use,
expiring, hashed at rest, good for the address it was sent to only.

Sent at sign-up and whenever the address changes (the change itself makes the address
unverified, `UserRepository.update_profile`); "send again" on /account asks for another.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from auth_service.config import AuthSettings
from auth_service.mail.messages import compose
from auth_service.mail.outbox import Outbox
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token
from auth_service.throttling.policy import Throttle, Window
from shared.errors import TooManyRequestsError
from shared.models import User

PURPOSE = "email-verify"
VERIFY_MAILS = "verify-mails"  # per account


async def send_verification(
    repos: Repositories, outbox: Outbox, throttle: Throttle, settings: AuthSettings, user: User,
    now: datetime,
) -> bool:  # fmt: skip
    """Queue a link that proves `user.email`; links to earlier addresses stop working. False
    when the account had AUTH_EMAIL_VERIFICATION_MAILS_PER_HOUR this hour (at sign-up, an
    address change or "send again" alike): nobody can make us mail address after address."""
    try:
        await throttle.hit(
            VERIFY_MAILS, user.id, Window(settings.email_verification_mails_per_hour, 3600)
        )
    except TooManyRequestsError:
        return False
    await repos.mailed_tokens.delete_for_user(user.id, PURPOSE)
    ttl = settings.email_verification_ttl
    token = await repos.mailed_tokens.issue(
        purpose=PURPOSE, user_id=user.id, ttl=timedelta(seconds=ttl), now=now,
        address=user.email,
    )  # fmt: skip
    # The greeting uses the username (a fixed alphabet), not the display name: this mail goes
    # to an address nobody has proven yet, and must carry no text its sender chose.
    letter = compose(
        "verify_email",
        user.email,
        username=user.username,
        link=f"{settings.issuer}/email/verify?token={token}",
        hours=ttl // 3600,
    )
    await outbox.queue(repos, letter, now)
    return True


async def verify(repos: Repositories, token: str, now: datetime) -> User | None:
    """Spend the link and mark its address verified; the user, or None for a dead link (expired,
    spent, unknown, or for an address the account no longer has)."""
    if not token or len(token) > 128:
        return None
    row = await repos.mailed_tokens.get_live(hash_token(token), PURPOSE, now)
    if row is None or row.address is None:
        return None
    if not await repos.mailed_tokens.use(row.token_hash, PURPOSE, now):
        return None  # spent meanwhile
    if not await repos.users.mark_email_verified(row.user_id, row.address, now):
        return None
    await repos.mailed_tokens.delete_for_user(row.user_id, PURPOSE)
    return await repos.users.get_by_id(row.user_id)
