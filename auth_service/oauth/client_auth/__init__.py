"""Client authentication (RFC 6749 §2.3): the registry of methods and the one entry point that
the token, revocation and introspection endpoints use.

A client is authenticated by the method it registered (`token_endpoint_auth_method`, RFC 7591
§2); the two ways of sending a secret stand in for each other, nothing else does. A failure is
`invalid_client`, with a Basic challenge when the client tried the Authorization header (RFC
6749 §5.2). Adding a method is one module and one line in `AUTH_METHODS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from auth_service.oauth.client_auth.base import (
    ClientAuthContext,
    ClientAuthMethod,
    ClientCredentials,
)
from auth_service.oauth.client_auth.client_secret_basic import BASIC_CHALLENGE, ClientSecretBasic
from auth_service.oauth.client_auth.client_secret_jwt import ClientSecretJwt
from auth_service.oauth.client_auth.client_secret_post import ClientSecretPost
from auth_service.oauth.client_auth.none import NoneAuth
from auth_service.oauth.client_auth.private_key_jwt import PrivateKeyJwt
from shared.errors import InvalidClientError, InvalidRequestError
from shared.models import Client
from shared.models.types import CLIENT_ID_MAX_LENGTH

__all__ = [
    "ASSERTION_SIGNING_ALGORITHMS",
    "AUTH_METHODS",
    "BASIC_CHALLENGE",
    "ClientAuthContext",
    "ClientCredentials",
    "auth_method_names",
    "auth_signing_alg_problem",
    "authenticate_client",
    "read_client_credentials",
]

AUTH_METHODS: Mapping[str, ClientAuthMethod] = {
    method.name: method
    for method in (
        ClientSecretBasic(),
        ClientSecretPost(),
        NoneAuth(),
        PrivateKeyJwt(),
        ClientSecretJwt(),
    )
}
# RFC 8414 §2 token_endpoint_auth_signing_alg_values_supported: what the JWT methods accept.
ASSERTION_SIGNING_ALGORITHMS: tuple[str, ...] = tuple(
    dict.fromkeys(
        alg for method in AUTH_METHODS.values() for alg in getattr(method, "signing_algorithms", ())
    )
)


def auth_method_names(*, public: bool | None = None) -> tuple[str, ...]:
    """Registered method names in registry order; `public=False` gives the methods that prove
    a credential (what introspection requires, RFC 7662 §2.1), `public=True` the others."""
    return tuple(
        name
        for name, method in AUTH_METHODS.items()
        if public is None or method.for_public_clients == public
    )


def auth_signing_alg_problem(auth_method: str, alg: str | None) -> str | None:
    """RFC 7591 §2 token_endpoint_auth_signing_alg: only for a JWT method, and one it verifies."""
    if alg is None:
        return None
    algorithms: tuple[str, ...] = getattr(AUTH_METHODS.get(auth_method), "signing_algorithms", ())
    if not algorithms:
        return "token_endpoint_auth_signing_alg is only for private_key_jwt and client_secret_jwt"
    if alg not in algorithms:
        return (
            f"token_endpoint_auth_signing_alg must be one of {', '.join(algorithms)} "
            f"for {auth_method}"
        )
    return None


def read_client_credentials(
    authorization: str | None, form: Mapping[str, str]
) -> ClientCredentials:
    """Find the client's credentials in the header or the body; more than one method is an error."""
    used = [
        method
        for method in AUTH_METHODS.values()
        if not method.for_public_clients and method.is_used(authorization, form)
    ]
    if len(used) > 1:
        # RFC 6749 §2.3: a client must not use more than one authentication method.
        raise InvalidRequestError(f"use either {used[0].where} or {used[1].where}, not both")
    if used:
        return used[0].read(authorization, form)
    for method in AUTH_METHODS.values():
        if method.for_public_clients and method.is_used(authorization, form):
            return method.read(authorization, form)
    raise InvalidClientError("client authentication is required")


ClientLookup = Callable[[str], Awaitable[Client | None]]


async def authenticate_client(
    credentials: ClientCredentials, lookup: ClientLookup, context: ClientAuthContext | None = None
) -> Client:
    """Return the client these credentials prove, or raise InvalidClientError."""
    client = (
        await lookup(credentials.client_id)
        if len(credentials.client_id) <= CLIENT_ID_MAX_LENGTH
        else None
    )
    if client is None:
        raise credentials.failure("client authentication failed")
    method = credentials.method
    if client.token_endpoint_auth_method not in method.accepted_for or not await method.verify(
        credentials, client, context
    ):
        raise credentials.failure("client authentication failed")
    return client
