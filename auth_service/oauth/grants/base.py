"""The grant contract: each grant type is one small class behind the token endpoint (RFC 6749 §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Protocol

from auth_service.audit import Auditor
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.tokens import TokenMinter
from auth_service.repositories import Repositories
from auth_service.security.passwords import PasswordHasher
from auth_service.throttling import Throttle
from shared.models import Client
from shared.models import Grant as GrantRecord  # `Grant` below is the grant-type contract
from shared.schemas import TokenResponse


@dataclass(frozen=True, slots=True)
class GrantSettings:
    refresh_token_reuse_grace: int  # seconds; 0 means strict


class UnitOfWork(Protocol):
    """The request's database work (`auth_service.unit_of_work.UnitOfWork`), opened on first use."""

    @property
    def repos(self) -> Repositories: ...


@dataclass(frozen=True, slots=True)
class GrantContext:
    uow: UnitOfWork
    minter: TokenMinter
    audit: Auditor
    hasher: PasswordHasher
    throttle: Throttle
    client_ip: str | None
    settings: GrantSettings
    now: datetime

    @property
    def repos(self) -> Repositories:
        """Repositories over the request's session; a grant that needs none never opens one."""
        return self.uow.repos

    async def lock_grant_for_issue(self, grant_id: str, client: Client) -> GrantRecord | None:
        """Lock the live grant before issuing from it, noting an access token of `client`'s
        lifetime (undone with the transaction if nothing is issued). None: missing or revoked.
        """
        ttl = timedelta(seconds=self.minter.access_token_ttl(client))
        return await self.repos.grants.lock_for_issue(grant_id, self.now, self.now + ttl)


class Grant(Protocol):
    grant_type: ClassVar[str]

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse: ...
