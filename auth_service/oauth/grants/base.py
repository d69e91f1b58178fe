"""The grant contract: each grant type is one small class behind the token endpoint (RFC 6749 §4).

A grant class declares what the rest of the provider derives from it (client registration, RFC
7591 registration, the developer portal and discovery read these declarations; nothing else names
grant types), and builds itself from the app's services once, at start-up.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Self

from auth_service.audit import Auditor
from auth_service.oauth.introspection import ActiveAccessTokens
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.tokens import TokenMinter
from auth_service.repositories import Repositories
from auth_service.security.passwords import PasswordHasher
from auth_service.throttling.policy import Throttle
from auth_service.unit_of_work import UnitOfWork
from shared.models import Client, Grant
from shared.schemas import TokenResponse


@dataclass(frozen=True, slots=True)
class GrantServices:
    """App-wide services a grant class may take what it needs from when it is built."""

    hasher: PasswordHasher
    throttle: Throttle
    refresh_token_reuse_grace: int  # seconds; 0 means strict
    # Our active access tokens as introspection decides (token exchange's input, RFC 8693); a
    # getter, since introspection's state is built in the lifespan, after the grants.
    access_tokens: Callable[[], ActiveAccessTokens]


@dataclass(frozen=True, slots=True)
class GrantContext:
    """What every grant needs for one token request."""

    uow: UnitOfWork
    minter: TokenMinter
    audit: Auditor
    client_ip: str | None
    now: datetime
    # RFC 9449 §5: the thumbprint of the request's verified DPoP proof key, if it had one.
    dpop_jkt: str | None = None

    @property
    def repos(self) -> Repositories:
        """Repositories over the request's session; a grant that needs none never opens one."""
        return self.uow.repos

    async def lock_grant_for_issue(self, grant_id: str, client: Client) -> Grant | None:
        """Lock the live grant before issuing from it, noting an access token of `client`'s
        lifetime (undone with the transaction if nothing is issued). None: missing or revoked.
        """
        ttl = timedelta(seconds=self.minter.access_token_ttl(client))
        return await self.repos.grants.lock_for_issue(grant_id, self.now, self.now + ttl)


class GrantType(ABC):
    """One grant type: its declarations, and the exchange of a token request for a token set.

    The defaults fit a grant that acts for a user and may be registered by anyone.
    """

    # The `grant_type` value: RFC 6749 §4 names, or an absolute URI for extension grants (§4.5).
    grant_type: ClassVar[str]
    # RFC 7591 §2: whether a self-registered client may ask for this grant.
    dynamic_registration: ClassVar[bool] = True
    # Whether tokens act for a resource owner. One that does not is the client acting for itself,
    # which only a client that can authenticate may do (RFC 6749 §4.4).
    acts_for_user: ClassVar[bool] = True
    # Whether this grant may return a refresh token (RFC 6749 §1.5; not client_credentials, §4.4.3).
    issues_refresh_token: ClassVar[bool] = True
    # Only for clients an operator marked first-party (the password grant, RFC 9700 §2.4).
    first_party_only: ClassVar[bool] = False
    # Whether the developer portal and `clients create` give it to browser apps by default.
    for_browser_apps: ClassVar[bool] = True
    # The authorization endpoint's response_type that starts this grant, if any (RFC 7591 §2.1).
    response_type: ClassVar[str | None] = None

    @classmethod
    def build(cls, services: GrantServices) -> Self:
        """The grant as the app runs it; a grant that needs services overrides this."""
        return cls()

    @abstractmethod
    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        """Check the request against this grant's rules and return the token set it earns."""
