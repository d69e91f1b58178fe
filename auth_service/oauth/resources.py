"""Resource indicators (RFC 8707): which registered resource server a token is for.

A `resource` names a resource server of the registry by its identifier URI; the access token
issued for it has that URI as `aud` (RFC 9068 §3) and only the scopes the server serves. Any
grant that lets a client pick an audience (authorization code, refresh token, client
credentials, and token exchange next) validates it through `resolve_resource`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from auth_service.repositories import Repositories
from shared.errors import InvalidScopeError, InvalidTargetError
from shared.models import Client, ResourceServer
from shared.models.resource_servers import MAX_RESOURCE_URI_LENGTH

# The parameter's name at /oauth/authorize, /oauth/par and /oauth/token (RFC 8707 §2).
RESOURCE_PARAM = "resource"
# Resources one authorization request may name: each is looked up, so the number is bounded.
MAX_RESOURCES = 10
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")


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


async def resolve_resource(repos: Repositories, client: Client, resource: str) -> ResourceServer:
    """RFC 8707 §2: the registered resource server `resource` identifies, if `client` may
    target it; `invalid_target` when it is malformed, unknown or not allowed for the client."""
    problem = resource_uri_problem(resource)
    if problem is not None:
        raise InvalidTargetError(f"resource {problem}")
    server = await repos.resource_servers.get_by_uri(resource)
    if server is None:
        raise InvalidTargetError("the resource is not a registered resource server")
    if not client.allows_resource(server.uri):
        raise InvalidTargetError("this client may not ask for tokens for the resource")
    return server


async def validate_resources(
    repos: Repositories, client: Client, resources: Sequence[str]
) -> tuple[str, ...]:
    """RFC 8707 §2.1: every `resource` of an authorization request, in order, repeats dropped."""
    unique = tuple(dict.fromkeys(resources))
    if len(unique) > MAX_RESOURCES:
        raise InvalidTargetError(f"at most {MAX_RESOURCES} resources per request")
    for resource in unique:
        await resolve_resource(repos, client, resource)
    return unique


@dataclass(frozen=True, slots=True)
class TokenTarget:
    """The access token's audience (None: the default audience) and its scopes."""

    audience: str | None
    scopes: frozenset[str]


async def token_target(
    repos: Repositories,
    client: Client,
    requested: Sequence[str],
    scopes: frozenset[str],
    *,
    granted: Sequence[str] | None,
) -> TokenTarget:
    """RFC 8707 §2.2: the audience of an access token. One `resource` per token request; for a
    code or refresh token (`granted`: what the authorization was asked for) it must be one of
    those, and without one the only one asked for is used. `granted` None (no authorization
    request: client credentials, password) allows any resource the client may target. Without
    any resource the default audience and `scopes` stay as they are."""
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
    else:
        return TokenTarget(None, scopes)
    server = await resolve_resource(repos, client, resource)
    return TokenTarget(server.uri, narrow_scopes(scopes, server))


def narrow_scopes(scopes: frozenset[str], server: ResourceServer) -> frozenset[str]:
    """A token for one resource carries only the scopes it serves (RFC 8707 §2.2 lets the
    server downscope per resource); none left is invalid_scope (RFC 6749 §5.2)."""
    narrowed = scopes & server.scopes
    if not narrowed:
        raise InvalidScopeError("none of the scopes is served by the requested resource")
    return narrowed
