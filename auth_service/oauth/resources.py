"""Resource indicators (RFC 8707): which registered resource server a token is for.

A `resource` names a resource server of the registry by its identifier URI; the access token
issued for it has that URI as `aud` (RFC 9068 §3) and only the scopes the server serves. Any
grant that lets a client pick an audience (authorization code, refresh token, client
credentials, and token exchange next) validates it through `resolve_resource`. Look-ups go
through a `ResourceRegistry` (the unit of work), which answers from this instance's cache.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from auth_service.resource_servers.cache import RegisteredResource
from shared.errors import InvalidScopeError, InvalidTargetError
from shared.models import Client
from shared.models.resource_servers import MAX_RESOURCE_URI_LENGTH
from shared.scopes import SCOPES

# The parameter's name at /oauth/authorize, /oauth/par and /oauth/token (RFC 8707 §2).
RESOURCE_PARAM = "resource"
# Resources one authorization request may name: each is looked up, so the number is bounded.
MAX_RESOURCES = 10
# What /oauth/userinfo answers to (OIDC Core §5.3, §5.4): openid, and the scopes that release
# claims. It accepts tokens for the default audience, so those keep these scopes.
USERINFO_SCOPES = frozenset({"openid"} | {name for name, scope in SCOPES.items() if scope.claims})
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")


class ResourceRegistry(Protocol):
    async def resource_server(self, uri: str) -> RegisteredResource | None:
        """The registered resource server with identifier `uri`, or None."""
        ...


def resource_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot identify a resource (RFC 8707 §2: an absolute URI, RFC 3986 §4.3,
    which may have a query but no fragment), or None."""
    if not uri or len(uri) > MAX_RESOURCE_URI_LENGTH:
        return "must be an absolute URI of at most 2000 characters"
    # RFC 3986 §2: a URI is printable ASCII, no spaces.
    if not all("!" <= ch <= "~" for ch in uri):
        return "must be an absolute URI (RFC 8707 section 2)"
    if "#" in uri:
        return "must not contain a fragment (RFC 8707 section 2)"
    scheme, colon, rest = uri.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme) or not rest:
        return "must be an absolute URI (RFC 8707 section 2)"
    if scheme.lower() in ("http", "https"):
        try:
            host = urlsplit(uri).hostname
        except ValueError:  # a malformed IPv6 literal
            host = None
        if not host:
            return "must be an absolute URI with a host (RFC 8707 section 2)"
    return None


async def resolve_resource(
    registry: ResourceRegistry, client: Client, resource: str
) -> RegisteredResource:
    """RFC 8707 §2: the registered resource server `resource` identifies, if `client` may
    target it; `invalid_target` when it is malformed, unknown or not allowed for the client."""
    problem = resource_uri_problem(resource)
    if problem is not None:
        raise InvalidTargetError(f"resource {problem}")
    server = await registry.resource_server(resource)
    if server is None:
        raise InvalidTargetError("the resource is not a registered resource server")
    if not client.allows_resource(server.uri):
        raise InvalidTargetError("this client may not ask for tokens for the resource")
    return server


async def validate_resources(
    registry: ResourceRegistry, client: Client, resources: Sequence[str], scopes: frozenset[str]
) -> tuple[str, ...]:
    """RFC 8707 §2.1: every `resource` of an authorization request, in order, repeats dropped.

    A token for a resource carries only the requested scopes it serves, so when none of them
    serves any of `scopes` no code of this request could ever be redeemed: refused here with
    invalid_scope (RFC 8707 §2 leaves acceptable resource and scope combinations to the
    server; RFC 6749 §4.1.2.1). Scopes no resource serves (`openid` for the ID token, say)
    do not matter as long as one requested scope is served somewhere."""
    unique = tuple(dict.fromkeys(resources))
    if len(unique) > MAX_RESOURCES:
        raise InvalidTargetError(f"at most {MAX_RESOURCES} resources per request")
    served: set[str] = set()
    for resource in unique:
        served |= (await resolve_resource(registry, client, resource)).scopes
    if unique and not scopes & served:
        raise InvalidScopeError("none of the scopes is served by the requested resources")
    return unique


@dataclass(frozen=True, slots=True)
class TokenTarget:
    """The access token's audience (None: the default audience) and its scopes."""

    audience: str | None
    scopes: frozenset[str]


async def token_target(
    registry: ResourceRegistry,
    client: Client,
    requested: Sequence[str],
    scopes: frozenset[str],
    *,
    granted: Sequence[str] | None,
    default_audience: str,
) -> TokenTarget:
    """RFC 8707 §2.2: the audience of an access token. One `resource` per token request; for a
    code or refresh token (`granted`: what the authorization was asked for) it must be one of
    those, and without one the only one asked for is used. `granted` None (no authorization
    request: client credentials, password) allows any resource the client may target.

    Without any resource the token is for the default audience (`default_audience`), under the
    same rules as a named resource when it is registered; see `default_target`.
    """
    if len(requested) > 1:
        raise InvalidTargetError("only one resource per token request (RFC 8707 section 2.2)")
    if requested:
        resource = requested[0]
        problem = resource_uri_problem(resource)
        if problem is not None:
            raise InvalidTargetError(f"resource {problem}")
        if granted is not None and resource not in granted:
            raise InvalidTargetError("the resource was not asked for in the authorization request")
    elif granted is not None and len(granted) == 1:
        resource = granted[0]
    elif granted:
        # RFC 8707 §2.2: the server may refuse a token request that leaves the audience open.
        raise InvalidTargetError("several resources were granted; name one with resource")
    else:
        return await default_target(registry, client, scopes, default_audience)
    server = await resolve_resource(registry, client, resource)
    return TokenTarget(server.uri, narrow_scopes(scopes, server))


async def default_target(
    registry: ResourceRegistry, client: Client, scopes: frozenset[str], default_audience: str
) -> TokenTarget:
    """No resource anywhere: the default audience. Registered, it is a resource like any
    other (the client must be allowed it, scopes narrowed to what it serves), except that the
    OIDC scopes stay: /oauth/userinfo accepts tokens for this audience (OIDC Core §5.3).
    Unregistered, every scope stays as before resource indicators, for unlimited clients; a
    client limited to some resources gets tokens for those only."""
    server = await registry.resource_server(default_audience)
    if server is None:
        if client.resources is not None:
            raise InvalidTargetError("this client may only ask for tokens for its resources")
        return TokenTarget(None, scopes)
    if not client.allows_resource(server.uri):
        raise InvalidTargetError("this client may not ask for tokens for the resource")
    return TokenTarget(None, narrow_scopes(scopes, server, also=USERINFO_SCOPES))


def narrow_scopes(
    scopes: frozenset[str], server: RegisteredResource, *, also: frozenset[str] = frozenset()
) -> frozenset[str]:
    """A token for one resource carries only the scopes it serves (and `also`; RFC 8707 §2.2
    lets the server downscope per resource); none left is invalid_scope (RFC 6749 §5.2)."""
    narrowed = scopes & (server.scopes | also)
    if not narrowed:
        raise InvalidScopeError("none of the scopes is served by the requested resource")
    return narrowed
