"""Dependencies routes receive through `Depends`: settings, unit of work, clock, client, session,
and the signed-in user of the account pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from auth_service.audit import Auditor
from auth_service.clients.cache import ClientCache
from auth_service.clients.metadata_documents import (
    MetadataDocumentError,
    honoured,
    looks_like_document_url,
)
from auth_service.config import AuthSettings
from auth_service.identity.authentication import SessionLifetime, current_session
from auth_service.oauth.authorize.request_object import RequestObjectContext
from auth_service.oauth.client_auth import (
    ClientAuthContext,
    authenticate_client,
    read_client_credentials,
)
from auth_service.oauth.client_metadata_documents import resolve_client
from auth_service.oauth.requests import (
    parse_form_items,
    require_unique,
    take_repeatable,
)
from auth_service.oauth.resources import RESOURCE_PARAM
from auth_service.oauth.tokens import TokenMinter
from auth_service.operations.key_lifecycle import KeyStore
from auth_service.repositories import Repositories
from auth_service.repositories.clients import ClientRepository
from auth_service.security.egress import url_host
from auth_service.security.passwords import PasswordHasher
from auth_service.security.replay import first_use
from auth_service.security.secret_box import SecretBox
from auth_service.throttling.addresses import address_group
from auth_service.throttling.policy import Throttle
from auth_service.throttling.sign_in import SignInThrottle
from auth_service.unit_of_work import UnitOfWork
from auth_service.web.pages import LoginRequired, session_cookie_of
from shared.errors import InvalidClientError
from shared.models import Client, User, UserSession
from shared.models.types import CLIENT_ID_MAX_LENGTH


async def get_settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings
    return settings


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request, committed before the response leaves (scope="function")."""
    async with UnitOfWork.of_app(request.app.state) as uow:
        yield uow


async def get_now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


# Every dependency is `async def`: FastAPI runs a plain `def` one in a worker thread, and that
# hop cost more than the work of most of these.
SettingsDep = Annotated[AuthSettings, Depends(get_settings)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]
Now = Annotated[datetime, Depends(get_now)]


async def get_repositories(uow: UnitOfWorkDep) -> Repositories:
    return uow.repos


ReposDep = Annotated[Repositories, Depends(get_repositories)]


async def get_minter(request: Request) -> TokenMinter:
    minter: TokenMinter = request.app.state.minter
    return minter


async def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


async def get_key_store(request: Request) -> KeyStore:
    key_store: KeyStore = request.app.state.key_store
    return key_store


async def get_throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


async def get_sign_in_throttle(request: Request) -> SignInThrottle:
    return SignInThrottle(request.app.state.throttle)


async def get_client_ip(request: Request) -> str | None:
    """The peer address; behind a proxy set AUTH_FORWARDED_ALLOW_IPS so it is the user's."""
    return request.client.host if request.client else None


async def get_secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


MinterDep = Annotated[TokenMinter, Depends(get_minter)]
SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]
ThrottleDep = Annotated[Throttle, Depends(get_throttle)]
SignInThrottleDep = Annotated[SignInThrottle, Depends(get_sign_in_throttle)]
ClientIp = Annotated[str | None, Depends(get_client_ip)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
KeyStoreDep = Annotated[KeyStore, Depends(get_key_store)]


async def get_form(request: Request) -> dict[str, str]:
    """The urlencoded body, parsed once with duplicate detection (RFC 6749 §3.2); `resource`,
    which may be repeated (RFC 8707 §2), is kept apart (get_form_resources)."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is None:
        items = parse_form_items(await request.body(), request.headers.get("content-type"))
        items, request.state.form_resources = take_repeatable(items, RESOURCE_PARAM)
        cached = require_unique(items)
        request.state.form = cached
    return cached


async def get_form_resources(request: Request) -> tuple[str, ...]:
    """The body's `resource` values (RFC 8707 §2), in order."""
    await get_form(request)
    resources: tuple[str, ...] = request.state.form_resources
    return resources


FormDep = Annotated[dict[str, str], Depends(get_form)]


async def get_auditor(request: Request, uow: UnitOfWorkDep, now: Now) -> Auditor:
    return _auditor(request, uow, now)


def _auditor(request: Request, uow: UnitOfWork, now: datetime) -> Auditor:
    events = request.app.state.metrics.audit_events
    return Auditor(
        uow,
        now=now,
        request_id=getattr(request.state, "request_id", None),
        ip=request.client.host if request.client else None,
        count=lambda event: events.labels(event).inc(),
    )


AuditorDep = Annotated[Auditor, Depends(get_auditor)]


@dataclass(frozen=True, slots=True)
class ClientCall:
    """A back-channel request from an authenticated client: what every /oauth endpoint with
    client authentication needs, resolved as one dependency (each FastAPI dependency costs
    tens of microseconds, and the token endpoint is the hottest path there is)."""

    form: dict[str, str]
    client: Client
    uow: UnitOfWork
    audit: Auditor
    now: datetime
    ip: str | None
    # RFC 8707 §2: the body's `resource` values, which unlike the rest may repeat.
    resources: tuple[str, ...] = ()


async def get_client_call(request: Request, uow: UnitOfWorkDep) -> ClientCall:
    form = await get_form(request)
    now: datetime = request.app.state.clock()
    ip = request.client.host if request.client else None
    client = await _authenticate_client(request, form, uow, request.app.state.throttle, ip)
    resources = await get_form_resources(request)
    return ClientCall(form, client, uow, _auditor(request, uow, now), now, ip, resources)


ClientCallDep = Annotated[ClientCall, Depends(get_client_call)]


async def _authenticate_client(
    request: Request, form: dict[str, str], uow: UnitOfWork, throttle: Throttle, ip: str | None
) -> Client:
    """RFC 6749 §2.3 client authentication; repeated failures per client and address are
    slowed (IPv6 by /64)."""
    credentials = read_client_credentials(request.headers.get("authorization"), form)
    throttle_key = f"{credentials.client_id}|{address_group(ip)}"
    await throttle.check_delay("client-auth", throttle_key)
    cache: ClientCache = request.app.state.client_cache

    async def load(client_id: str) -> Client | None:
        client = await client_by_id(request, uow.repos, client_id)
        if client is not None:
            # Detached, so this request's rollback cannot expire the copy other requests share.
            uow.session.expunge(client)
        return client

    resolved: dict[str, Client | None] = {}

    async def lookup(client_id: str) -> Client | None:
        if is_document_client_id(request, client_id):
            # Never in the shared cache: the document cache alone says how long a copy holds
            # (§4.4), so a changed, expired or failing document is seen when it should be.
            # Resolved once per request (authenticate_client asks again).
            if client_id not in resolved:
                resolved[client_id] = await client_by_id(request, uow.repos, client_id)
            return resolved[client_id]
        # Inside a transaction, not behind another request's read (LookupCache.get).
        return await cache.get(client_id, load, share=not uow.in_transaction())

    try:
        known = await lookup(credentials.client_id) is not None
    except MetadataDocumentError as error:
        # draft-ietf-oauth-client-id-metadata-document-00 §4.3: a client whose document cannot
        # be had or used is not authenticated (the cause, never the document, is described).
        await throttle.hit_address("client-auth-ip", ip, throttle.policy.unknown_clients_per_ip)
        raise credentials.failure(str(error)) from None
    if not known:
        # No per-client key for ids that do not exist (random ids would crowd the counter store);
        # such failures count per address instead.
        await throttle.hit_address("client-auth-ip", ip, throttle.policy.unknown_clients_per_ip)
    try:
        return await authenticate_client(credentials, lookup, _client_auth_context(request, uow))
    except InvalidClientError:
        if known:
            await throttle.failed("client-auth", throttle_key, throttle.policy.client_auth)
        raise


def is_document_client_id(request: Request, client_id: str) -> bool:
    """A client_id to resolve through its Client ID Metadata Document (when enabled)."""
    settings: AuthSettings = request.app.state.settings
    return settings.client_metadata_documents_enabled and looks_like_document_url(client_id)


async def client_by_id(request: Request, repos: Repositories, client_id: str) -> Client | None:
    """The client with this id: a registered client first; else a URL (when metadata documents
    are enabled) is resolved through its Client ID Metadata Document, raising
    MetadataDocumentError when that fails, or TooManyRequestsError past the fetch limits."""
    if is_document_client_id(request, client_id):
        if await _registered_client_holds(request, client_id):
            return await repos.clients.get_by_client_id(client_id)
        state = request.app.state
        settings: AuthSettings = state.settings
        return await resolve_client(
            repos,
            state.client_documents,
            client_id,
            signing_algs=settings.signing_algs,
            now=state.clock(),
            before_fetch=_fetch_throttle(request),
        )
    return await stored_client(request, repos, client_id)


async def stored_client(request: Request, repos: Repositories, client_id: str) -> Client | None:
    """The client row with this id, without any fetch: a document's copy only while
    documents are enabled (client_metadata_documents.honoured)."""
    if len(client_id) > CLIENT_ID_MAX_LENGTH:
        return None
    settings: AuthSettings = request.app.state.settings
    client = await repos.clients.get_by_client_id(client_id)
    return honoured(client, enabled=settings.client_metadata_documents_enabled)


async def _registered_client_holds(request: Request, client_id: str) -> bool:
    """A registered client owns this id, so no document is fetched for it. Read in a short
    session of its own: the request's transaction (on SQLite, the one write lock) must not
    be open while a slow document server answers."""
    if len(client_id) > CLIENT_ID_MAX_LENGTH:
        return False
    async with request.app.state.sessionmaker() as session:
        client = await ClientRepository(session).get_by_client_id(client_id)
        return client is not None and not client.from_metadata_document


def _fetch_throttle(request: Request) -> Callable[[str], Awaitable[None]]:
    """Before a document fetch goes out: a ceiling per client address (IPv6 by /64) and per
    target host, so nobody makes us fetch without bound, nor aim our fetches at one host."""
    throttle: Throttle = request.app.state.throttle
    ip = request.client.host if request.client else None

    async def before_fetch(url: str) -> None:
        policy = throttle.policy
        await throttle.hit_address(
            "client-metadata-fetch-ip", ip, policy.client_metadata_fetch_per_ip
        )
        # One key per name however it is written (case, a trailing dot): url_host.
        host = url_host(url) or ""
        await throttle.hit(
            "client-metadata-fetch-host", host, policy.client_metadata_fetch_per_host
        )

    return before_fetch


def _jti_first_use(
    request: Request, repos: Repositories | UnitOfWork, purpose: str
) -> Callable[[str, str, datetime], Awaitable[bool]]:
    """(client_id, jti, expires_at) -> whether this is the jti's first use, per purpose."""
    state = request.app.state

    async def jti_first_use(client_id: str, jti: str, expires_at: datetime) -> bool:
        return await first_use(
            repos,
            state.replay_guard,
            purpose=purpose,
            issuer=client_id,
            jti=jti,
            expires_at=expires_at,
            now=state.clock(),
        )

    return jti_first_use


def _client_auth_context(request: Request, uow: UnitOfWork) -> ClientAuthContext:
    """RFC 7523 §3: what a client assertion is checked against. The audience is our issuer
    identifier; the token endpoint URL is accepted too (OIDC Core §9 names it)."""
    state = request.app.state
    settings: AuthSettings = state.settings
    box: SecretBox = state.secret_box

    def client_secret(client: Client) -> str | None:
        sealed = client.client_secret_encrypted
        return box.decrypt(sealed) if sealed else None

    return ClientAuthContext(
        now=state.clock(),
        # RFC 7523 section 3 item 3: the issuer identifies us; the token endpoint's URL is the
        # other value clients use, and RFC 9126 section 2 makes the PAR endpoint's acceptable.
        audiences=frozenset(
            {
                settings.issuer,
                f"{settings.issuer}/oauth/token",
                f"{settings.issuer}/oauth/par",
                # RFC 8628 §3.1: client authentication as at the token endpoint.
                f"{settings.issuer}/oauth/device_authorization",
            }
        ),
        leeway=settings.leeway,
        keys=state.client_keys,
        client_secret=client_secret,
        # The unit, not its repositories: most requests never need a session here.
        first_use=_jti_first_use(request, uow, "client-assertion"),
    )


def request_object_context(request: Request, repos: Repositories) -> RequestObjectContext:
    """RFC 9101 §6.3: a request object's audience is our issuer identifier; its jti is single
    use in a namespace of its own (a client assertion's jti cannot spend it)."""
    state = request.app.state
    settings: AuthSettings = state.settings

    return RequestObjectContext(
        issuer=settings.issuer,
        now=state.clock(),
        leeway=settings.leeway,
        keys=state.client_keys,
        first_use=_jti_first_use(request, repos, "request-object"),
    )


def session_lifetime(settings: AuthSettings) -> SessionLifetime:
    return SessionLifetime(ttl=settings.session_ttl, idle=settings.session_idle_timeout)


async def get_browser_session(request: Request, repos: ReposDep, now: Now) -> UserSession | None:
    lifetime = session_lifetime(request.app.state.settings)
    return await current_session(repos, session_cookie_of(request), now, lifetime=lifetime)


OptionalSession = Annotated[UserSession | None, Depends(get_browser_session)]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The browser's session and its user, on a page only a signed-in user may use."""

    session: UserSession
    user: User


def signed_in(next_path: str) -> Callable[[Repositories, UserSession | None], Awaitable[SignedIn]]:
    """The dependency of a page for signed-in users: anyone else is sent to /login and then to
    `next_path`, the page to come back to (a form's own page, never the POST target)."""

    async def get_signed_in(repos: ReposDep, session: OptionalSession) -> SignedIn:
        user = await repos.users.get_by_id(session.user_id) if session else None
        if session is None or user is None:
            raise LoginRequired(next_path)
        return SignedIn(session, user)

    return get_signed_in
