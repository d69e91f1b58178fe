"""`none` (RFC 7591 §2): a public client names itself with `client_id` in the body and proves
nothing; what protects its tokens is PKCE and the exact redirect URI (RFC 9700 §2.1.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from auth_service.oauth.client_auth.base import (
    ClientAuthContext,
    ClientAuthMethod,
    ClientCredentials,
)
from shared.errors import InvalidClientError
from shared.models import Client


class NoneAuth(ClientAuthMethod):
    name: ClassVar[str] = "none"
    for_public_clients: ClassVar[bool] = True
    accepted_for: ClassVar[frozenset[str]] = frozenset({"none"})
    where: ClassVar[str] = "client_id alone"

    def is_used(self, authorization: str | None, form: Mapping[str, str]) -> bool:
        return "client_id" in form

    def read(self, authorization: str | None, form: Mapping[str, str]) -> ClientCredentials:
        client_id = form.get("client_id")
        if client_id is None:
            raise InvalidClientError("client authentication is required")
        return ClientCredentials(client_id, None, self)

    async def verify(
        self, credentials: ClientCredentials, client: Client, context: ClientAuthContext | None
    ) -> bool:
        return client.is_public
