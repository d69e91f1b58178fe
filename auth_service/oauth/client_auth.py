"""Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3).

Confidential clients use `client_secret_basic` or `client_secret_post`; public clients send only
their `client_id` (`none`). A failure is `invalid_client`, with a Basic challenge when the client
tried the Authorization header (RFC 6749 §5.2).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from auth_service.security.secrets import token_matches
from shared.errors import InvalidClientError, InvalidRequestError
from shared.models import Client

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
TOKEN_ENDPOINT_AUTH_METHODS: tuple[AuthMethod, ...] = (
    "client_secret_basic",
    "client_secret_post",
    "none",
)
BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str | None
    method: AuthMethod

    def failure(self, description: str) -> InvalidClientError:
        challenge = BASIC_CHALLENGE if self.method == "client_secret_basic" else None
        return InvalidClientError(description, challenge=challenge)


def read_client_credentials(authorization: str | None, form: dict[str, str]) -> ClientCredentials:
    """Find the client's credentials in the header or the body; more than one method is an error."""
    if authorization is not None and authorization[:6].lower() == "basic ":
        if "client_secret" in form:
            # RFC 6749 §2.3: a client must not use more than one authentication method.
            raise InvalidRequestError(
                "use either HTTP Basic or client_secret in the body, not both"
            )
        client_id, client_secret = _decode_basic(authorization[6:].strip())
        if form.get("client_id", client_id) != client_id:
            raise InvalidRequestError("client_id in the body differs from the Authorization header")
        return ClientCredentials(client_id, client_secret, "client_secret_basic")
    body_client_id = form.get("client_id")
    if body_client_id is None:
        raise InvalidClientError("client authentication is required")
    if "client_secret" in form:
        return ClientCredentials(body_client_id, form["client_secret"], "client_secret_post")
    return ClientCredentials(body_client_id, None, "none")


def _decode_basic(encoded: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClientError("malformed Basic credentials", challenge=BASIC_CHALLENGE) from None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClientError("malformed Basic credentials", challenge=BASIC_CHALLENGE)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(client_secret)


ClientLookup = Callable[[str], Awaitable[Client | None]]


async def authenticate_client(credentials: ClientCredentials, lookup: ClientLookup) -> Client:
    """Return the client these credentials prove, or raise InvalidClientError."""
    client = await lookup(credentials.client_id) if len(credentials.client_id) <= 64 else None
    if client is None:
        raise credentials.failure("client authentication failed")
    if credentials.method == "none":
        if not client.is_public:
            raise credentials.failure("client authentication failed")
        return client
    if client.is_public or credentials.client_secret is None:
        raise credentials.failure("client authentication failed")
    if not token_matches(credentials.client_secret, client.client_secret_hash):
        raise credentials.failure("client authentication failed")
    return client
