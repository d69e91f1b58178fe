"""`client_secret_basic` (RFC 6749 §2.3.1): the client id and secret in HTTP Basic (RFC 7617)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import unquote_plus

from auth_service.oauth.client_auth.base import (
    ClientAuthContext,
    ClientAuthMethod,
    ClientCredentials,
)
from auth_service.security.secrets import token_matches
from shared.errors import InvalidClientError, InvalidRequestError
from shared.models import Client

BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})


class ClientSecretBasic(ClientAuthMethod):
    name: ClassVar[str] = "client_secret_basic"
    accepted_for: ClassVar[frozenset[str]] = SECRET_METHODS
    where: ClassVar[str] = "HTTP Basic"
    challenge: ClassVar[str | None] = BASIC_CHALLENGE

    def is_used(self, authorization: str | None, form: Mapping[str, str]) -> bool:
        return authorization is not None and authorization[:6].lower() == "basic "

    def read(self, authorization: str | None, form: Mapping[str, str]) -> ClientCredentials:
        client_id, client_secret = _decode_basic((authorization or "")[6:].strip())
        if form.get("client_id", client_id) != client_id:
            raise InvalidRequestError("client_id in the body differs from the Authorization header")
        return ClientCredentials(client_id, client_secret, self)

    async def verify(
        self, credentials: ClientCredentials, client: Client, context: ClientAuthContext | None
    ) -> bool:
        return verify_client_secret(credentials, client)


def verify_client_secret(credentials: ClientCredentials, client: Client) -> bool:
    """A confidential client's secret, compared with its stored digest in constant time."""
    if client.is_public or credentials.client_secret is None:
        return False
    return token_matches(credentials.client_secret, client.client_secret_hash)


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
