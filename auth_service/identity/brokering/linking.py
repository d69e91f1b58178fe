"""Which account an upstream sign-in is: by link, never by address alone (README "Sign in with
another provider").

A link is keyed by (upstream, subject): the one name an upstream promises never to give anyone
else (OIDC Core §5.7: `sub` with `iss` is the only stable identifier; an address can change
hands). An address only decides which account is offered: its owner proves it with that
account's own sign-in before the link is made, unless the upstream is marked trusted and says
the address is verified.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from auth_service.identity.accounts import USERNAME_PATTERN, profile_problems
from auth_service.identity.brokering.upstream_client import UpstreamIdentity
from auth_service.repositories import Repositories
from shared.models import UpstreamLink, UpstreamProvider, User
from shared.models.users import NO_PASSWORD


class BrokeringError(Exception):
    """Why this upstream sign-in cannot go on, in words for the person."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The account the upstream's person already is (by link, or by the trusted shortcut)."""

    user: User


@dataclass(frozen=True, slots=True)
class ProveOwnership:
    """The upstream's address is this account's: its owner must sign in to it first."""

    user: User


@dataclass(frozen=True, slots=True)
class NewAccount:
    """No account is linked or has the address: one may be made (if sign-up is open)."""

    email: str


def label_of(identity: UpstreamIdentity) -> str:
    return identity.email or identity.preferred_username or ""


async def add_link(
    repos: Repositories, provider: UpstreamProvider, subject: str, label: str, user_id: str,
    now: datetime,
) -> bool:  # fmt: skip
    """False if that upstream subject is linked already, to this account or another."""
    link = UpstreamLink(
        provider_id=provider.id, subject=subject, user_id=user_id, label=label[:254],
        created_at=now, last_used_at=now,
    )  # fmt: skip
    return await repos.upstream_links.add(link)


async def resolve(
    repos: Repositories, provider: UpstreamProvider, identity: UpstreamIdentity, now: datetime
) -> SignedIn | ProveOwnership | NewAccount:
    link = await repos.upstream_links.get(provider.id, identity.subject)
    if link is not None:
        user = await repos.users.get_by_id(link.user_id)
        if user is None:  # deleted meanwhile (the link goes with the account)
            raise BrokeringError("That account no longer exists.")
        await repos.upstream_links.record_use(link, now)
        return SignedIn(user)
    email = identity.email
    if email is None or profile_problems(email) is not None:
        raise BrokeringError(
            f"{provider.name} did not share an email address we can use, and an account here "
            "needs one. Create an account with a password first."
        )
    existing = await repos.users.get_by_email(email)
    if existing is None:
        return NewAccount(email)
    if await _may_link_by_address(repos, provider, identity, existing):
        if not await add_link(
            repos, provider, identity.subject, label_of(identity), existing.id, now
        ):
            raise BrokeringError("This sign-in was linked meanwhile. Try again.")
        return SignedIn(existing)
    return ProveOwnership(existing)


async def _may_link_by_address(
    repos: Repositories, provider: UpstreamProvider, identity: UpstreamIdentity, existing: User
) -> bool:
    """The one case an address alone links: a trusted upstream vouches for it, the account
    proved the same address to us, and no other upstream signs in to that account. The last
    rule: an account someone made here through another upstream with a stranger's address
    (which its owner may later confirm, or take over by a reset) must not gain the owner's
    trusted sign-in as a second way in."""
    if not (provider.trusted and identity.email_verified and existing.email_verified):
        return False
    # Locked first: two first sign-ins through two trusted upstreams must not each count none.
    await repos.users.lock(existing.id)
    return await repos.upstream_links.count_for_user(existing.id) == 0


async def create_linked_account(
    repos: Repositories, provider: UpstreamProvider, identity: UpstreamIdentity, email: str,
    now: datetime,
) -> User:  # fmt: skip
    """An account with no password (it signs in through the link until its owner sets one by a
    reset); its address counts as verified only on a trusted upstream's word. The caller has
    checked that sign-up is open and counted it against the address's sign-up limit."""
    for username in _usernames(identity, email):
        if await repos.users.get_by_username(username) is not None:
            continue
        try:
            async with repos.session.begin_nested():
                user = await repos.users.add(
                    username=username, email=email, name=identity.name,
                    password_hash=NO_PASSWORD, now=now,
                )  # fmt: skip
                if provider.trusted and identity.email_verified:
                    await repos.users.mark_email_verified(user.id, user.email, now)
                    user.email_verified = True
                linked = await add_link(
                    repos, provider, identity.subject, label_of(identity), user.id, now
                )
                if not linked:
                    raise IntegrityError("upstream_link", None, Exception("linked meanwhile"))
                return user
        except IntegrityError:
            break  # a concurrent sign-in made this account or link: the next attempt finds it
    raise BrokeringError("This sign-in could not be finished. Try again.")


def _usernames(identity: UpstreamIdentity, email: str) -> list[str]:
    wanted = identity.preferred_username or email.split("@", 1)[0]
    base = re.sub(r"[^a-z0-9._-]", "", wanted.lower()).lstrip("._-")[:56]
    if not USERNAME_PATTERN.fullmatch(base):
        base = "user"
    return [base] + [f"{base}-{secrets.token_hex(3)}" for _ in range(4)]
