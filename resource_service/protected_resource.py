"""Protected resource metadata (RFC 9728 §2, §3): what this API is, who issues its tokens, what
it takes; built once at start-up from the routes themselves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from resource_service.deps import RequireScopes

# RFC 9728 §3: the well-known suffix, inserted between the host and the path of the identifier.
WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"
# Changes only with the deployment's configuration; an hour of caching costs a client nothing.
MAX_AGE = 3600


def metadata_url(public_url: str) -> str:
    """RFC 9728 §3.1 for an identifier without a path: where this API publishes its metadata,
    the URL every challenge names (RFC 9728 §5.1)."""
    return public_url.rstrip("/") + WELL_KNOWN_PATH


def required_scopes(routes: Iterable[BaseRoute]) -> frozenset[str]:
    """Every scope some route's `require_scopes` dependency asks for: the metadata lists what
    the code checks, so the two cannot drift."""
    found: set[str] = set()

    def walk(dependant: Dependant) -> None:
        if isinstance(dependant.call, RequireScopes):
            found.update(dependant.call.scopes)
        for sub in dependant.dependencies:
            walk(sub)

    for route in routes:
        if isinstance(route, APIRoute):
            walk(route.dependant)
    return frozenset(found)


def protected_resource_metadata(
    *,
    resource: str,
    issuer: str,
    scopes: Iterable[str],
    dpop_algs: Sequence[str],
    name: str,
) -> dict[str, Any]:
    """The RFC 9728 §2 document. `resource` is our identifier, the `aud` our tokens carry (RFC
    9068 §4); tokens come only in the Authorization header (RFC 6750 §2.1), Bearer or DPoP with
    the proof algorithms the verifier accepts (RFC 9449 §5.1)."""
    return {
        "resource": resource,
        "authorization_servers": [issuer],
        "scopes_supported": sorted(scopes),
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": list(dpop_algs),
        "resource_name": name,
    }
