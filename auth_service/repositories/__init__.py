"""The only code that builds queries. Repositories add, flush and execute; they never commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.repositories.audit import AuditRepository
from auth_service.repositories.authorization_codes import AuthorizationCodeRepository
from auth_service.repositories.authorization_requests import PendingAuthorizationRepository
from auth_service.repositories.clients import ClientRepository
from auth_service.repositories.consents import ConsentRepository
from auth_service.repositories.device_authorizations import DeviceAuthorizationRepository
from auth_service.repositories.grants import GrantRepository
from auth_service.repositories.jobs import JobRepository
from auth_service.repositories.mail import MailedTokenRepository, MailRepository
from auth_service.repositories.passkeys import PasskeyChallengeRepository, PasskeyRepository
from auth_service.repositories.pushed_requests import PushedRequestRepository
from auth_service.repositories.recovery_codes import RecoveryCodeRepository
from auth_service.repositories.refresh_tokens import RefreshTokenRepository
from auth_service.repositories.resource_servers import ResourceServerRepository
from auth_service.repositories.revocations import RevocationRepository
from auth_service.repositories.signing_keys import SigningKeyRepository
from auth_service.repositories.upstreams import UpstreamLinkRepository, UpstreamProviderRepository
from auth_service.repositories.used_jtis import UsedJtiRepository
from auth_service.repositories.users import SessionRepository, UserRepository


@dataclass(frozen=True, slots=True)
class Repositories:
    """Every repository over one database session (one unit of work)."""

    session: AsyncSession
    users: UserRepository
    sessions: SessionRepository
    clients: ClientRepository
    pending: PendingAuthorizationRepository
    consents: ConsentRepository
    grants: GrantRepository
    codes: AuthorizationCodeRepository
    refresh_tokens: RefreshTokenRepository
    recovery_codes: RecoveryCodeRepository
    revocations: RevocationRepository
    signing_keys: SigningKeyRepository
    jobs: JobRepository
    audit: AuditRepository
    pushed: PushedRequestRepository
    used_jtis: UsedJtiRepository
    resource_servers: ResourceServerRepository
    devices: DeviceAuthorizationRepository
    mail: MailRepository
    mailed_tokens: MailedTokenRepository
    passkeys: PasskeyRepository
    passkey_challenges: PasskeyChallengeRepository
    upstreams: UpstreamProviderRepository
    upstream_links: UpstreamLinkRepository

    @classmethod
    def over(cls, session: AsyncSession) -> Repositories:
        return cls(
            session=session,
            users=UserRepository(session),
            sessions=SessionRepository(session),
            clients=ClientRepository(session),
            pending=PendingAuthorizationRepository(session),
            consents=ConsentRepository(session),
            grants=GrantRepository(session),
            codes=AuthorizationCodeRepository(session),
            refresh_tokens=RefreshTokenRepository(session),
            recovery_codes=RecoveryCodeRepository(session),
            revocations=RevocationRepository(session),
            signing_keys=SigningKeyRepository(session),
            jobs=JobRepository(session),
            audit=AuditRepository(session),
            pushed=PushedRequestRepository(session),
            used_jtis=UsedJtiRepository(session),
            resource_servers=ResourceServerRepository(session),
            devices=DeviceAuthorizationRepository(session),
            mail=MailRepository(session),
            mailed_tokens=MailedTokenRepository(session),
            passkeys=PasskeyRepository(session),
            passkey_challenges=PasskeyChallengeRepository(session),
            upstreams=UpstreamProviderRepository(session),
            upstream_links=UpstreamLinkRepository(session),
        )
