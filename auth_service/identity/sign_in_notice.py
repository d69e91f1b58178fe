"""A mail to the owner when their account is signed in to from a browser it has not seen
(OWASP Authentication Cheat Sheet, "Notify users of unusual activity").

"Seen" is the device cookie (`web.device_cookie`): a browser that completed a sign-in to the
account before holds one. A first sign-in anywhere, a cleared cookie jar or a private window
counts as new, which is the point: that is what a stranger with the password looks like.
"""

from __future__ import annotations

from datetime import datetime

from auth_service.config import AuthSettings
from auth_service.identity.browsers import BrowserInfo, describe
from auth_service.mail.messages import compose
from auth_service.mail.outbox import Outbox
from auth_service.repositories import Repositories
from shared.models import User


async def queue_new_browser_notice(
    repos: Repositories,
    outbox: Outbox | None,
    settings: AuthSettings,
    user: User,
    browser: BrowserInfo,
    now: datetime,
) -> bool:
    """Queue the notice when notices are on and mail is configured; True if one was queued."""
    if outbox is None or not settings.sign_in_notices:
        return False
    letter = compose(
        "new_sign_in",
        user.email,
        name=user.name or user.username,
        username=user.username,
        browser=describe(browser.user_agent),
        address=browser.ip or "an unknown address",
        when=now.strftime("%Y-%m-%d at %H:%M UTC"),
        sessions_link=f"{settings.issuer}/account/sessions",
        forgot_link=f"{settings.issuer}/password/forgot",
    )
    await outbox.queue(repos, letter, now)
    return True
