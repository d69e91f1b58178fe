"""`client_secret_post` (RFC 6749 §2.3.1): `client_id` and `client_secret` in the request body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from auth_service.oauth.client_auth.base import (
    ClientAuthContext,
    ClientAuthMethod,
    ClientCredentials,
)
from auth_service.oauth.client_auth.client_secret_basic import SECRET_METHODS, verify_client_secret
from shared.errors import InvalidClientError
from shared.models import Client


class ClientSecretPost(ClientAuthMethod):
    name: ClassVar[str] = "client_secret_post"
    accepted_for: ClassVar[frozenset[str]] = SECRET_METHODS
    where: ClassVar[str] = "client_secret in the body"

    def is_used(self, authorization: str | None, form: Mapping[str, str]) -> bool:
        return "client_secret" in form

    def read(self, authorization: str | None, form: Mapping[str, str]) -> ClientCredentials:
        client_id = form.get("client_id")
        if client_id is None:
            raise InvalidClientError("client authentication is required")
        return ClientCredentials(client_id, form["client_secret"], self)

    async def verify(
        self, credentials: ClientCredentials, client: Client, context: ClientAuthContext | None
    ) -> bool:
        return verify_client_secret(credentials, client)
