"""Creating clients and their secrets, with the registration rules every path shares (RFC 7591 §2)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from auth_service.clients.keys import jwks_problem, jwks_uri_problem
from auth_service.oauth import fapi2
from auth_service.oauth.client_auth import (
    AUTH_METHODS,
    auth_method_names,
    auth_signing_alg_problem,
)
from auth_service.oauth.grants import GRANTS, browser_app_grant_types
from auth_service.oauth.grants.base import GrantType
from auth_service.oauth.revocation import DENY_MARGIN, publish_grant_revocation
from auth_service.operations.key_lifecycle import MAX_TOKEN_LIFETIME
from auth_service.repositories import Repositories
from auth_service.security.redirect_uris import redirect_uri_problem
from auth_service.security.secrets import hash_token, new_token
from shared.errors import InvalidScopeError
from shared.models import Client
from shared.revocations import CLIENT_CHANGED
from shared.scopes import SCOPES, format_scope, parse_scope

T = TypeVar("T")
MIN_ACCESS_TTL, MAX_ACCESS_TTL = 30, 86400
MIN_REFRESH_TTL, MAX_REFRESH_TTL = 60, 365 * 86400
DEFAULT_GRANT_TYPES = browser_app_grant_types()
# How long the feed lists a client change: far longer than any instance's client cache or
# missed polls need, and only one small row per change.
CHANGE_NOTICE = timedelta(hours=1)


class ClientMetadataError(ValueError):
    """Why the metadata cannot be registered; `field` says which part."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ClientKeys:
    """RFC 7591 §2: a client's public keys, inline or by URL (never both)."""

    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None


# Seals a client secret for storage (SecretBox.encrypt): client_secret_jwt needs it back.
Sealer = Callable[[str], str]
KEY_METHODS = frozenset({"private_key_jwt"})  # methods that verify with the client's own keys
SEALED_SECRET_METHODS = frozenset({"client_secret_jwt"})


@dataclass(frozen=True, slots=True)
class ClientSpec:
    name: str
    redirect_uris: Sequence[str]
    scope: str
    grant_types: Sequence[str] = DEFAULT_GRANT_TYPES
    is_public: bool = False
    require_pkce: bool = True
    post_logout_redirect_uris: Sequence[str] = ()
    homepage_uri: str | None = None
    logo_uri: str | None = None
    is_first_party: bool = False
    can_introspect: bool = False
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    token_endpoint_auth_method: str | None = None  # RFC 7591 §2; derived from is_public if None
    require_pushed_authorization_requests: bool = False  # RFC 9126 §6
    keys: ClientKeys | None = None  # RFC 7591 §2 jwks / jwks_uri, for private_key_jwt
    dpop_bound_access_tokens: bool = False  # RFC 9449 §5.2
    token_endpoint_auth_signing_alg: str | None = None  # RFC 7591 §2, for the JWT methods
    profile: str | None = None  # None or "fapi2" (auth_service/oauth/fapi2.py)
    # RFC 8707 §2: the registered resource servers it may target; None = every one.
    resources: Sequence[str] | None = None
    # RFC 8693 §5: other clients whose access tokens this one may exchange (token exchange).
    may_exchange_for: Sequence[str] = ()

    @property
    def auth_method(self) -> str:
        if self.token_endpoint_auth_method is not None:
            return self.token_endpoint_auth_method
        return auth_method_names(public=self.is_public)[0]


@dataclass(frozen=True, slots=True)
class ClientChanges:
    """Fields to change; None leaves a field as it is (0 resets a lifetime to the default)."""

    name: str | None = None
    redirect_uris: Sequence[str] | None = None
    post_logout_redirect_uris: Sequence[str] | None = None
    scope: str | None = None
    grant_types: Sequence[str] | None = None
    is_first_party: bool | None = None
    can_introspect: bool | None = None
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    homepage_uri: str | None = None
    logo_uri: str | None = None
    token_endpoint_auth_method: str | None = None  # RFC 7591 §2, within public or confidential
    require_pushed_authorization_requests: bool | None = None  # RFC 9126 §6
    keys: ClientKeys | None = None  # replaces the registered keys; None keeps them
    dpop_bound_access_tokens: bool | None = None  # RFC 9449 §5.2
    token_endpoint_auth_signing_alg: str | None = None  # RFC 7591 §2; "" clears it
    profile: str | None = None  # "fapi2", or "" for none
    resources: Sequence[str] | None = None  # RFC 8707 §2; replaces the list
    all_resources: bool = False  # back to every registered resource server
    may_exchange_for: Sequence[str] | None = None  # replaces the list; () empties it


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    client: Client
    client_secret: str | None  # shown once; only its digest is stored


def new_client_id() -> str:
    """A random client id (144 bits) that does not start with "-", which a command line (our
    admin CLI, curl) would read as an option."""
    while (client_id := secrets.token_urlsafe(18)).startswith("-"):
        pass
    return client_id


def with_profile(spec: ClientSpec) -> ClientSpec:
    """The spec with what its profile forces: FAPI 2.0 §5.3.2.2 PAR and PKCE, §5.3.2.1
    sender-constrained (DPoP) tokens. What cannot be forced is checked by validate_client_spec."""
    if not fapi2.is_fapi2(spec.profile):
        return spec
    return replace(
        spec,
        require_pkce=True,
        require_pushed_authorization_requests=True,
        dpop_bound_access_tokens=True,
    )


def validate_client_spec(spec: ClientSpec) -> None:
    _validate_lifetimes(spec.access_token_ttl, spec.refresh_token_ttl)
    method = AUTH_METHODS.get(spec.auth_method)
    if method is None or method.for_public_clients != spec.is_public:
        raise ClientMetadataError(
            f"token_endpoint_auth_method must be {' or '.join(auth_method_names(public=True))} "
            "for public clients and "
            f"{' or '.join(auth_method_names(public=False))} for confidential ones",
            field="token_endpoint_auth_method",
        )
    _validate_keys(spec)
    alg_problem = auth_signing_alg_problem(spec.auth_method, spec.token_endpoint_auth_signing_alg)
    if alg_problem is not None:
        raise ClientMetadataError(alg_problem, field="token_endpoint_auth_signing_alg")
    for field, url in (("homepage_uri", spec.homepage_uri), ("logo_uri", spec.logo_uri)):
        problem = web_url_problem(url) if url else None
        if problem is not None:
            raise ClientMetadataError(problem, field=field)
    if not spec.name.strip() or len(spec.name) > 200:
        raise ClientMetadataError("name must be 1-200 characters", field="name")
    grants = _known_grants(spec.grant_types)
    for grant in grants:
        if grant.first_party_only and not spec.is_first_party:
            raise ClientMetadataError(
                f"the {grant.grant_type} grant is only for first-party clients (RFC 9700 section 2.4)",
                field="grant_types",
            )
    if spec.is_public and spec.can_introspect:
        raise ClientMetadataError(
            "only a confidential client can introspect: the endpoint needs client authentication "
            "(RFC 7662 section 2.1)",
            field="can_introspect",
        )
    _validate_grant_holder(spec, grants)
    if spec.is_public and spec.may_exchange_for:
        # RFC 8693 §5: exchange policy is per authenticated client; a public one is anyone.
        raise ClientMetadataError(
            "only a confidential client can exchange tokens", field="may_exchange_for"
        )
    _validate_profile(spec)
    for uri in (*spec.redirect_uris, *spec.post_logout_redirect_uris):
        problem = redirect_uri_problem(uri)
        if problem is not None:
            field = "redirect_uris" if uri in spec.redirect_uris else "post_logout_redirect_uris"
            raise ClientMetadataError(f"{uri[:100]}: {problem}", field=field)
    try:
        scopes = parse_scope(spec.scope)
    except InvalidScopeError:
        raise ClientMetadataError("scope is malformed", field="scope") from None
    unknown = scopes - SCOPES.keys()
    if unknown:
        raise ClientMetadataError(f"unknown scope: {sorted(unknown)[0]}", field="scope")


def _validate_keys(spec: ClientSpec) -> None:
    """RFC 7591 §2: jwks and jwks_uri are not both registered; private_key_jwt needs one."""
    keys = spec.keys or ClientKeys()
    if keys.jwks is not None and keys.jwks_uri is not None:
        raise ClientMetadataError("jwks and jwks_uri must not both be registered", field="jwks")
    if spec.auth_method not in KEY_METHODS:
        if keys.jwks is not None or keys.jwks_uri is not None:
            raise ClientMetadataError(
                "jwks and jwks_uri are only for private_key_jwt clients", field="jwks"
            )
        return
    if keys.jwks is None and keys.jwks_uri is None:
        raise ClientMetadataError("private_key_jwt needs jwks or jwks_uri", field="jwks")
    problem = (
        jwks_problem(keys.jwks)
        if keys.jwks is not None
        # http on loopback passes here; outside development the fetcher refuses it (and
        # private addresses) when it would fetch.
        else jwks_uri_problem(keys.jwks_uri or "", development=True)
    )
    if problem is not None:
        raise ClientMetadataError(problem, field="jwks" if keys.jwks is not None else "jwks_uri")


def _validate_profile(spec: ClientSpec) -> None:
    """What the client's profile asks that with_profile cannot force (FAPI 2.0 §5.3.2.1)."""
    problem = fapi2.registration_problem(
        spec.profile,
        is_public=spec.is_public,
        auth_method=spec.auth_method,
        grant_types=spec.grant_types,
        auth_signing_alg=spec.token_endpoint_auth_signing_alg,
    )
    if problem is not None:
        raise ClientMetadataError(problem[0], field=problem[1])


def _known_grants(grant_types: Sequence[str]) -> list[type[GrantType]]:
    """The grant classes of `grant_types`; their declarations say who may hold them."""
    unknown_grants = set(grant_types) - GRANTS.keys()
    if unknown_grants:
        raise ClientMetadataError(
            f"unknown grant type: {sorted(unknown_grants)[0]}", field="grant_types"
        )
    return [GRANTS[name] for name in dict.fromkeys(grant_types)]


def _validate_grant_holder(spec: ClientSpec, grants: Sequence[type[GrantType]]) -> None:
    for grant in grants:
        # RFC 6749 §4.4: a client acting for itself must be able to prove who it is.
        if spec.is_public and not grant.acts_for_user:
            raise ClientMetadataError(
                f"a public client cannot use {grant.grant_type} (RFC 6749 section 4.4)",
                field="grant_types",
            )
    # RFC 6749 §3.1.2: grants started at the authorization endpoint return to a redirect URI.
    if any(grant.response_type is not None for grant in grants) and not spec.redirect_uris:
        raise ClientMetadataError("at least one redirect URI is required", field="redirect_uris")


async def register_client(
    repos: Repositories,
    spec: ClientSpec,
    *,
    now: datetime,
    owner_id: str | None = None,
    client_id: str | None = None,
    seal: Sealer | None = None,
) -> RegisteredClient:
    spec = with_profile(spec)
    validate_client_spec(spec)
    await _validate_exchange_sources(repos, spec.may_exchange_for)
    if spec.auth_method in SEALED_SECRET_METHODS and seal is None:
        raise ClientMetadataError(
            f"{spec.auth_method} is not available here", field="token_endpoint_auth_method"
        )
    resources = await _validated_resources(repos, spec.resources)
    # A client that proves itself with its own keys gets no secret (RFC 7591 §3.2.1: optional).
    secret = None if spec.is_public or spec.auth_method in KEY_METHODS else new_token()
    keys = spec.keys or ClientKeys()
    client = Client(
        client_id=client_id or new_client_id(),
        client_secret_hash=hash_token(secret) if secret else None,
        name=spec.name.strip(),
        redirect_uris=list(dict.fromkeys(spec.redirect_uris)),
        post_logout_redirect_uris=list(dict.fromkeys(spec.post_logout_redirect_uris)),
        scope=format_scope(parse_scope(spec.scope)),
        grant_types=list(dict.fromkeys(spec.grant_types)),
        is_public=spec.is_public,
        # RFC 9700 §2.1.1: public clients must use PKCE, whatever the flag says.
        require_pkce=spec.require_pkce or spec.is_public,
        is_first_party=spec.is_first_party,
        can_introspect=spec.can_introspect,
        access_token_ttl=spec.access_token_ttl,
        refresh_token_ttl=spec.refresh_token_ttl,
        owner_id=owner_id,
        homepage_uri=spec.homepage_uri,
        logo_uri=spec.logo_uri,
        token_endpoint_auth_method=spec.auth_method,
        require_pushed_authorization_requests=spec.require_pushed_authorization_requests,
        jwks=keys.jwks,
        jwks_uri=keys.jwks_uri,
        client_secret_encrypted=(
            seal(secret) if seal and secret and spec.auth_method in SEALED_SECRET_METHODS else None
        ),
        dpop_bound_access_tokens=spec.dpop_bound_access_tokens,
        token_endpoint_auth_signing_alg=spec.token_endpoint_auth_signing_alg,
        profile=spec.profile,
        resources=resources,
        may_exchange_for=list(dict.fromkeys(spec.may_exchange_for)),
        created_at=now,
        updated_at=now,
    )
    await repos.clients.add(client)
    return RegisteredClient(client, secret)


def _validate_lifetimes(access_token_ttl: int | None, refresh_token_ttl: int | None) -> None:
    if access_token_ttl is not None and not MIN_ACCESS_TTL <= access_token_ttl <= MAX_ACCESS_TTL:
        raise ClientMetadataError(
            f"access token lifetime must be {MIN_ACCESS_TTL}-{MAX_ACCESS_TTL} seconds",
            field="access_token_ttl",
        )
    if (
        refresh_token_ttl is not None
        and not MIN_REFRESH_TTL <= refresh_token_ttl <= MAX_REFRESH_TTL
    ):
        raise ClientMetadataError(
            f"refresh token lifetime must be {MIN_REFRESH_TTL}-{MAX_REFRESH_TTL} seconds",
            field="refresh_token_ttl",
        )


async def update_client(
    repos: Repositories, client: Client, changes: ClientChanges, *, now: datetime
) -> Client:
    """Apply `changes` under the same rules as registration; nothing is saved if any is invalid."""
    _refuse_document_client(client)

    def pick(new: T | None, old: T) -> T:
        return old if new is None else new

    spec = ClientSpec(
        name=pick(changes.name, client.name),
        redirect_uris=pick(changes.redirect_uris, client.redirect_uris),
        scope=pick(changes.scope, client.scope),
        grant_types=pick(changes.grant_types, client.grant_types),
        is_public=client.is_public,
        require_pkce=client.require_pkce,
        post_logout_redirect_uris=pick(
            changes.post_logout_redirect_uris, client.post_logout_redirect_uris
        ),
        homepage_uri=pick(changes.homepage_uri, client.homepage_uri),
        logo_uri=pick(changes.logo_uri, client.logo_uri),
        is_first_party=pick(changes.is_first_party, client.is_first_party),
        can_introspect=pick(changes.can_introspect, client.can_introspect),
        access_token_ttl=_ttl(changes.access_token_ttl, client.access_token_ttl),
        refresh_token_ttl=_ttl(changes.refresh_token_ttl, client.refresh_token_ttl),
        token_endpoint_auth_method=pick(
            changes.token_endpoint_auth_method, client.token_endpoint_auth_method
        ),
        require_pushed_authorization_requests=pick(
            changes.require_pushed_authorization_requests,
            client.require_pushed_authorization_requests,
        ),
        keys=_keys_after(changes, client),
        dpop_bound_access_tokens=pick(
            changes.dpop_bound_access_tokens, client.dpop_bound_access_tokens
        ),
        token_endpoint_auth_signing_alg=_cleared(
            changes.token_endpoint_auth_signing_alg, client.token_endpoint_auth_signing_alg
        ),
        profile=_cleared(changes.profile, client.profile),
        may_exchange_for=pick(changes.may_exchange_for, client.may_exchange_for),
    )
    spec = with_profile(spec)
    validate_client_spec(spec)
    if changes.all_resources:
        client.resources = None
    elif changes.resources is not None:
        client.resources = await _validated_resources(repos, changes.resources)
    if changes.may_exchange_for is not None:
        await _validate_exchange_sources(repos, changes.may_exchange_for)
    client.name = spec.name.strip()
    client.redirect_uris = list(dict.fromkeys(spec.redirect_uris))
    client.post_logout_redirect_uris = list(dict.fromkeys(spec.post_logout_redirect_uris))
    client.scope = format_scope(parse_scope(spec.scope))
    client.grant_types = list(dict.fromkeys(spec.grant_types))
    client.homepage_uri = spec.homepage_uri or None
    client.logo_uri = spec.logo_uri or None
    client.is_first_party = spec.is_first_party
    client.can_introspect = spec.can_introspect
    client.access_token_ttl = spec.access_token_ttl
    client.refresh_token_ttl = spec.refresh_token_ttl
    client.token_endpoint_auth_method = spec.auth_method
    client.require_pushed_authorization_requests = spec.require_pushed_authorization_requests
    client.jwks, client.jwks_uri = (
        (spec.keys or ClientKeys()).jwks,
        (spec.keys or ClientKeys()).jwks_uri,
    )
    if spec.auth_method not in SEALED_SECRET_METHODS:
        # Kept only while the client uses client_secret_jwt; switching to it needs a new
        # secret (rotate it), since only a digest of the current one is known.
        client.client_secret_encrypted = None
    client.dpop_bound_access_tokens = spec.dpop_bound_access_tokens
    client.require_pkce = spec.require_pkce
    client.token_endpoint_auth_signing_alg = spec.token_endpoint_auth_signing_alg
    client.profile = spec.profile
    client.may_exchange_for = list(dict.fromkeys(spec.may_exchange_for))
    client.updated_at = now
    announce_client_change(repos, client.client_id, now=now)
    return await repos.clients.save(client)


async def _validated_resources(repos: Repositories, uris: Sequence[str] | None) -> list[str] | None:
    """RFC 8707 §2: the resource servers a client is limited to, each one registered."""
    if uris is None:
        return None
    for uri in uris:
        if await repos.resource_servers.get_by_uri(uri) is None:
            raise ClientMetadataError(
                f"{uri[:100]}: not a registered resource server", field="resources"
            )
    return list(dict.fromkeys(uris))


async def _validate_exchange_sources(repos: Repositories, client_ids: Sequence[str]) -> None:
    """Each client named in `may_exchange_for` exists (a typo would silently allow nothing)."""
    for client_id in dict.fromkeys(client_ids):
        if await repos.clients.get_by_client_id(client_id) is None:
            raise ClientMetadataError(f"no such client: {client_id[:64]}", field="may_exchange_for")


def _refuse_document_client(client: Client) -> None:
    """A client copied from its Client ID Metadata Document changes only with that document,
    and never gets a secret (draft-ietf-oauth-client-id-metadata-document-00 §4.1)."""
    if client.from_metadata_document:
        raise ClientMetadataError(
            "this client is defined by its client metadata document; change the document",
            field="client_id",
        )


def _keys_after(changes: ClientChanges, client: Client) -> ClientKeys | None:
    """The keys a change leaves: the new ones, none when the client stops using them, or the
    registered ones."""
    if changes.keys is not None:
        return changes.keys
    method = changes.token_endpoint_auth_method or client.token_endpoint_auth_method
    if method not in KEY_METHODS:
        return None
    return ClientKeys(client.jwks, client.jwks_uri)


def _cleared(new: str | None, old: str | None) -> str | None:
    """None keeps the old value, "" clears it."""
    if new is None:
        return old
    return new or None


def _ttl(new: int | None, old: int | None) -> int | None:
    if new is None:
        return old
    return None if new == 0 else new


def web_url_problem(url: str) -> str | None:
    """Homepage and logo links: absolute https (or http on loopback), no credentials in them."""
    if len(url) > 2000 or any(ch.isspace() for ch in url):
        return "the URL is too long or contains spaces"
    try:
        parts = urlsplit(url)
        hostname = parts.hostname  # parsed lazily: a bad IPv6 literal raises only here
    except ValueError:  # "https://[bad", or a netloc NFKC changes ("https://℀.com/")
        return "the URL must be an absolute https URL"
    if parts.scheme not in ("https", "http") or not hostname or "@" in parts.netloc:
        return "the URL must be an absolute https URL"
    if parts.scheme == "http" and hostname not in ("localhost", "127.0.0.1", "::1"):
        return "the URL must use https (http only for localhost)"
    return None


async def delete_client(repos: Repositories, client: Client, *, now: datetime) -> None:
    """Delete a client with everything it holds (consents, grants, codes, refresh tokens), and
    publish a revocation of every access token issued to it, including client_credentials ones,
    and of every token of its users' grants: one a token exchange issued to another client
    carries the grant, not this client, and the cascade publishes nothing (RFC 8693 §1.1)."""
    for grant in await repos.grants.lock_live_for_client(client.client_id):
        publish_grant_revocation(repos, grant, now)
    repos.revocations.add(
        "client", client.client_id, expires_at=now + MAX_TOKEN_LIFETIME + DENY_MARGIN, now=now
    )
    await repos.clients.delete(client.client_id)


async def rotate_client_secret(
    repos: Repositories, client: Client, *, now: datetime, seal: Sealer | None = None
) -> str:
    _refuse_document_client(client)
    if client.is_public:
        raise ClientMetadataError("a public client has no secret", field="client_secret")
    sealed = client.token_endpoint_auth_method in SEALED_SECRET_METHODS
    if sealed and seal is None:
        raise ClientMetadataError(
            "this client's secret cannot be rotated here", field="client_secret"
        )
    secret = new_token()
    await repos.clients.set_secret_hash(
        client.client_id,
        hash_token(secret),
        now,
        encrypted=seal(secret) if sealed and seal is not None else None,
    )
    announce_client_change(repos, client.client_id, now=now)
    return secret


def announce_client_change(repos: Repositories, client_id: str, *, now: datetime) -> None:
    """Tell every instance, in the change's own transaction, to forget what it holds of the
    client: the feed lists it after the commit, Redis announces it where configured. (A
    deletion's `client` revocation does the same.)"""
    repos.revocations.add(CLIENT_CHANGED, client_id, expires_at=now + CHANGE_NOTICE, now=now)
