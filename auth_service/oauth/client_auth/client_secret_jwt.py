"""`client_secret_jwt` (RFC 7523 §2.2, OIDC Core §9): a JWT with an HMAC (HS256) keyed by the
client secret. Verifying needs the secret itself, so clients registered with this method keep
it encrypted at rest (Client.client_secret_encrypted) beside the usual SHA-256 digest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from auth_service.oauth.client_auth.base import (
    ClientAuthContext,
    ClientAuthMethod,
    ClientCredentials,
)
from auth_service.oauth.client_auth.jwt_assertion import (
    is_assertion,
    read_assertion_credentials,
    uses_hmac,
    validate_assertion_claims,
)
from auth_service.oauth.fapi2 import assertion_algorithms
from shared.errors import InvalidTokenError
from shared.models import Client
from shared.tokens import SECRET_ASSERTION_ALGORITHMS, verify_with_secret

ALGORITHMS = SECRET_ASSERTION_ALGORITHMS


class ClientSecretJwt(ClientAuthMethod):
    name: ClassVar[str] = "client_secret_jwt"
    accepted_for: ClassVar[frozenset[str]] = frozenset({"client_secret_jwt"})
    where: ClassVar[str] = "client_assertion"
    signing_algorithms: ClassVar[tuple[str, ...]] = ALGORITHMS

    def is_used(self, authorization: str | None, form: Mapping[str, str]) -> bool:
        return is_assertion(form) and uses_hmac(form)

    def read(self, authorization: str | None, form: Mapping[str, str]) -> ClientCredentials:
        return read_assertion_credentials(form, self, ALGORITHMS)

    async def verify(
        self, credentials: ClientCredentials, client: Client, context: ClientAuthContext | None
    ) -> bool:
        if context is None or credentials.assertion is None or client.is_public:
            return False
        secret = context.client_secret(client)
        if secret is None:
            return False
        try:
            claims = verify_with_secret(
                credentials.assertion, secret, algorithms=assertion_algorithms(client, ALGORITHMS)
            )
        except InvalidTokenError as error:
            raise credentials.failure(f"client assertion refused: {error.description}") from None
        await validate_assertion_claims(claims, credentials, context)
        return True
