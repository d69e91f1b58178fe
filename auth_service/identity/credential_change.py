"""When a password or second factor changes, what the old credential let in ends with it.

OWASP ASVS 5.0 V7.4.3 (end the other sessions after any authentication factor changes) and
V7.2.4 (a new session id on re-authentication); RFC 9700 section 4.14.2 (refresh tokens die with
the authorization they carry). Whoever learnt the old password, or held the old second factor,
may have signed in elsewhere or let an app of their own hold an `offline_access` grant: both end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auth_service.identity.authentication import NewSession, rotate_session
from auth_service.oauth.revocation import revoke_family
from auth_service.repositories import Repositories
from shared.models import UserSession


@dataclass(frozen=True, slots=True)
class EndedAccess:
    session: NewSession  # this browser's session under its new id
    grants_revoked: int


async def end_other_access(
    repos: Repositories, current: UserSession, *, now: datetime
) -> EndedAccess:
    """Give this browser a new session id, end the user's other sessions, revoke every grant and
    forget every consent.

    Grants go through `revoke_family`, the path "connected apps" uses: their refresh tokens stop
    working at once and their access tokens are published on the revocation feed, which resource
    servers follow. Consents go too: kept, an app that whoever held the old credential allowed
    would get a new code without any page shown (`prompt=none`, OIDC Core section 3.1.2.1) the
    next time the owner's browser is sent to it, and with it a new grant.
    """
    rotated = await rotate_session(repos, current, now=now)
    await repos.sessions.delete_all_for_user(current.user_id, except_hash=rotated.session.id_hash)
    return EndedAccess(rotated, await _end_grants_and_consents(repos, current.user_id, now))


async def end_all_access(repos: Repositories, user_id: str, now: datetime) -> int:
    """As `end_other_access`, with no browser kept (a password reset: whoever asked for the link
    signs in again like everyone else). Returns how many grants were revoked."""
    await repos.sessions.delete_all_for_user(user_id)
    return await _end_grants_and_consents(repos, user_id, now)


async def _end_grants_and_consents(repos: Repositories, user_id: str, now: datetime) -> int:
    grant_ids = await repos.grants.active_ids_for_user(user_id)
    for grant_id in grant_ids:
        await revoke_family(repos, grant_id, now)
    await repos.consents.delete_all_for_user(user_id)
    return len(grant_ids)
