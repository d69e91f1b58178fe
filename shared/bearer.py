"""Reading a bearer access token from a request (RFC 6750 §2), the same way on every server."""

from __future__ import annotations

from shared.errors import BearerRequestError, MissingTokenError


def bearer_from_header(
    authorization: str | None, *, realm: str, resource_metadata: str | None = None
) -> str | None:
    """The token of an `Authorization: Bearer …` header; None when there is no Bearer header.

    Raises `BearerRequestError` for a Bearer header without exactly one token.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token or " " in token:
        raise BearerRequestError(
            "the Authorization header must be 'Bearer <token>'",
            realm=realm,
            resource_metadata=resource_metadata,
        )
    return token


def require_bearer(
    authorization: str | None, *, realm: str, resource_metadata: str | None = None
) -> str:
    """RFC 6750 §3: no credentials (or another scheme) gets a challenge without an error code."""
    token = bearer_from_header(authorization, realm=realm, resource_metadata=resource_metadata)
    if token is None:
        raise MissingTokenError(realm=realm, resource_metadata=resource_metadata)
    return token
