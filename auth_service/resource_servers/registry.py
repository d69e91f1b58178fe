"""Creating, changing and deleting resource servers, under one set of rules (RFC 8707 §2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from auth_service.clients.registry import CHANGE_NOTICE, announce_client_change
from auth_service.oauth.resources import resource_uri_problem
from auth_service.repositories import Repositories
from shared.errors import InvalidScopeError
from shared.models import ResourceServer
from shared.revocations import RESOURCE_SERVER_CHANGED
from shared.scopes import SCOPES, format_scope, parse_scope


class ResourceServerError(ValueError):
    """Why the resource server cannot be registered; `field` says which part."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ReservedIdentifiers:
    """Identifiers only the operator (CLI, demo seed) may register, never a portal user.

    A resource server checks that `aud` is its own identifier (RFC 9068 §4), so whoever
    registers an identifier decides which scopes its tokens carry. The issuer's origin holds
    our own endpoints; the default audience is what `/oauth/userinfo` and the notes API
    accept. Neither may be claimed by a stranger.
    """

    issuer: str
    default_audience: str

    def holds(self, uri: str) -> bool:
        origin = _origin(uri)
        return (origin is not None and origin == _origin(self.issuer)) or _same_uri(
            uri, self.default_audience
        )


def _origin(uri: str) -> tuple[str, str, int] | None:
    """RFC 6454 §4: scheme, host and port (the scheme's default filled in), for http(s)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _same_uri(a: str, b: str) -> bool:
    """Equal but for the case of scheme and host, a default port and a trailing slash
    (RFC 3986 §6.2.2-6.2.3); other URIs compare as strings."""

    def normal(uri: str) -> tuple[tuple[str, str, int] | None, str]:
        origin = _origin(uri)
        if origin is None:
            return None, uri
        return origin, urlsplit(uri)._replace(scheme="", netloc="").geturl().rstrip("/")

    return normal(a) == normal(b)


@dataclass(frozen=True, slots=True)
class ResourceServerSpec:
    uri: str
    name: str
    scopes: Sequence[str]


def _validated_scope(scopes: Sequence[str]) -> str:
    """The scopes as a wire string: known ones, at least one (a token for a resource carries
    only the scopes it serves, so a resource serving none could get no token)."""
    names: set[str] = set()
    try:
        for value in scopes:
            names |= parse_scope(value)
    except InvalidScopeError:
        raise ResourceServerError("scope is malformed", field="scope") from None
    unknown = names - SCOPES.keys()
    if unknown:
        raise ResourceServerError(f"unknown scope: {sorted(unknown)[0]}", field="scope")
    if not names:
        raise ResourceServerError("a resource server serves at least one scope", field="scope")
    return format_scope(names)


def _validated_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ResourceServerError("name must be 1-200 characters", field="name")
    return name


async def register_resource_server(
    repos: Repositories,
    spec: ResourceServerSpec,
    *,
    now: datetime,
    owner_id: str | None = None,
    reserved: ReservedIdentifiers | None = None,
) -> ResourceServer:
    """A new resource server; its identifier is an absolute URI without fragment, not taken,
    and not one of the `reserved` ones (given for registrations by people, not the operator)."""
    problem = resource_uri_problem(spec.uri)
    if problem is not None:
        raise ResourceServerError(f"the identifier {problem}", field="uri")
    if reserved is not None and reserved.holds(spec.uri):
        raise ResourceServerError("this identifier is reserved for the operator", field="uri")
    server = ResourceServer(
        uri=spec.uri,
        name=_validated_name(spec.name),
        scope=_validated_scope(spec.scopes),
        owner_id=owner_id,
        created_at=now,
        updated_at=now,
    )
    # The look-up answers the usual case; the unique index a twin registered at the same time.
    taken = await repos.resource_servers.get_by_uri(spec.uri) is not None
    if taken or not await repos.resource_servers.add(server):
        raise ResourceServerError("a resource server with this identifier exists", field="uri")
    # Other instances may remember that this identifier was not registered.
    announce_resource_server_change(repos, server, now=now)
    return server


async def update_resource_server(
    repos: Repositories,
    server: ResourceServer,
    *,
    name: str | None = None,
    scopes: Sequence[str] | None = None,
    now: datetime,
) -> ResourceServer:
    """Change the name or the scopes (None keeps them). The identifier stays: it is the `aud`
    of tokens already issued, and the URI clients and grants name."""
    new_name = server.name if name is None else _validated_name(name)
    new_scope = server.scope if scopes is None else _validated_scope(scopes)
    server.name, server.scope, server.updated_at = new_name, new_scope, now
    announce_resource_server_change(repos, server, now=now)
    return await repos.resource_servers.save(server)


async def delete_resource_server(
    repos: Repositories, server: ResourceServer, *, now: datetime
) -> None:
    """Gone from the registry: no new token names it. Access tokens already issued for it
    live out their (short) lifetime; grants that named it get invalid_target from now on.

    In the same transaction it leaves the resource lists of the clients limited to it (a
    client limited to nothing else may then target nothing; it is not opened to all), and
    every instance is told those clients changed."""
    for client in await repos.clients.list_limited_to(server.uri):
        # A new list: the JSON column does not notice a change made in place.
        client.resources = [uri for uri in client.resources or () if uri != server.uri]
        client.updated_at = now
        announce_client_change(repos, client.client_id, now=now)
        await repos.clients.save(client)
    announce_resource_server_change(repos, server, now=now)
    await repos.resource_servers.delete(server)


def announce_resource_server_change(
    repos: Repositories, server: ResourceServer, *, now: datetime
) -> None:
    """Tell every instance, in the change's own transaction, to forget the resource-server
    look-ups it holds: the feed lists the notice after the commit, Redis announces it where
    configured. This instance forgets `server` itself when the unit of work commits."""
    repos.revocations.add(
        RESOURCE_SERVER_CHANGED, server.id, expires_at=now + CHANGE_NOTICE, now=now
    )
