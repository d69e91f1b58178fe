"""Forgot password, after the OWASP Forgot Password Cheat Sheet.

- Asking: the answer is the same, and comes as fast, whether or not the address belongs to an
  account: the lookup, the token and the mail happen after the answer has left (`send_link`).
- The link carries a 256-bit token, kept only as its SHA-256 digest, good for
  AUTH_PASSWORD_RESET_TTL and once; built from the issuer URL, never from the Host header.
- Using it: a new password under the sign-up rules; every session, every grant (refresh-token
  family, access tokens through the revocation feed), every consent and every passkey of the
  account ends,
  like after any credential change; a notice is mailed; the person then signs in as usual,
  second factor included (no automatic sign-in).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from auth_service.audit import Auditor
from auth_service.config import AuthSettings
from auth_service.identity.credential_change import end_all_access
from auth_service.mail.messages import compose
from auth_service.mail.outbox import Outbox
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token
from auth_service.throttling.policy import Throttle, Window
from shared.errors import TooManyRequestsError
from shared.models import User

logger = logging.getLogger(__name__)
PURPOSE = "password-reset"
RESET_MAILS = "reset-mails"  # per account


async def send_link(
    repos: Repositories,
    outbox: Outbox,
    throttle: Throttle,
    settings: AuthSettings,
    audit: Auditor,
    email: str,
    now: datetime,
) -> bool:
    """Queue a reset link for the account with `email`, if there is one and it has not had
    AUTH_PASSWORD_RESET_MAILS_PER_ACCOUNT mails this hour. True when a mail was queued."""
    user = await repos.users.get_by_email(email) if email else None
    if user is None:
        return False
    try:  # one atomic count-and-check, so requests sent together cannot all pass
        await throttle.hit(
            RESET_MAILS, user.id, Window(settings.password_reset_mails_per_account, 3600)
        )
    except TooManyRequestsError:
        audit.record("password_reset_throttled", user_id=user.id)
        return False
    token = await repos.mailed_tokens.issue(
        purpose=PURPOSE, user_id=user.id, ttl=timedelta(seconds=settings.password_reset_ttl),
        now=now,
    )  # fmt: skip
    letter = compose(
        "password_reset",
        user.email,
        name=user.name or user.username,
        username=user.username,
        link=f"{settings.issuer}/password/reset?token={token}",
        minutes=settings.password_reset_ttl // 60,
    )
    await outbox.queue(repos, letter, now)
    audit.record("password_reset_requested", user_id=user.id)
    return True


async def reset_user(repos: Repositories, token: str, now: datetime) -> User | None:
    """The account a live reset token belongs to (not spent here)."""
    if not token or len(token) > 128:
        return None
    row = await repos.mailed_tokens.get_live(hash_token(token), PURPOSE, now)
    return None if row is None else await repos.users.get_by_id(row.user_id)


async def complete_reset(
    repos: Repositories,
    outbox: Outbox,
    settings: AuthSettings,
    user: User,
    token: str,
    password_hash: str,
    now: datetime,
) -> int | None:
    """Spend the token and set the password; end all access; queue the notice. How many grants
    were revoked, or None if the token was spent (or expired) meanwhile."""
    if not await repos.mailed_tokens.use(hash_token(token), PURPOSE, now):
        return None
    await repos.mailed_tokens.delete_for_user(user.id, PURPOSE)  # every other link dies too
    await repos.users.set_password_hash(user.id, password_hash, now)
    revoked = await end_all_access(repos, user.id, now)
    # A passkey signs in without the password: one planted by whoever took the account over
    # would outlive the reset. The owner adds theirs again.
    passkeys = await repos.passkeys.delete_all_for_user(user.id)
    # The same for links to upstream providers: whoever made the account through an upstream
    # with the owner's address, or linked theirs to it, loses that way in.
    links = await repos.upstream_links.delete_all_for_user(user.id)
    await queue_password_notice(
        repos, outbox, settings, user, now, reset=True, passkeys_removed=passkeys,
        links_removed=links,
    )  # fmt: skip
    return revoked


async def queue_password_notice(
    repos: Repositories,
    outbox: Outbox,
    settings: AuthSettings,
    user: User,
    now: datetime,
    *,
    reset: bool,
    passkeys_removed: int = 0,
    links_removed: int = 0,
) -> None:
    """OWASP: tell the owner their password changed, with the way back if it was not them."""
    letter = compose(
        "password_changed",
        user.email,
        name=user.name or user.username,
        username=user.username,
        when=now.strftime("%Y-%m-%d at %H:%M UTC"),
        reset=reset,
        passkeys_removed=passkeys_removed,
        links_removed=links_removed,
        forgot_link=f"{settings.issuer}/password/forgot",
    )
    await outbox.queue(repos, letter, now)
