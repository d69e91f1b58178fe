"""`private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): a JWT signed with a key of the client's
registered JWK Set (`jwks`, or fetched from `jwks_uri`). Asymmetric algorithms only: never
`none`, never HMAC (RFC 8725 §3.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from auth_service.oauth.client_auth.base import (
    ClientAuthContext,
    ClientAuthMethod,
    ClientCredentials,
    ClientKeySource,
    ClientKeysUnavailable,
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
from shared.tokens import SIGNATURE_ALGORITHMS, read_assertion, verify_with_jwk_set

ALGORITHMS = SIGNATURE_ALGORITHMS  # RS256, PS256, ES256, EdDSA


async def verify_client_signed_jwt(
    token: str, client: Client, keys: ClientKeySource, algorithms: tuple[str, ...] = ALGORITHMS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWT signed with one of the client's registered asymmetric keys:
    the header policed (no none or HMAC, no embedded keys or key URLs, no crit; RFC 8725 §3.1,
    §3.10), the signature checked against `jwks` or `jwks_uri`. Shared by client assertions and
    request objects (RFC 9101 §6.1). Raises InvalidTokenError, or ClientKeysUnavailable."""
    # The claims are read too, so a payload that is not a JSON object is refused before any key
    # is looked up (or fetched from jwks_uri).
    header, _ = read_assertion(token, allowed_algorithms=algorithms)
    kid = header.get("kid")
    jwks = await keys.jwks_for(client, kid if isinstance(kid, str) else None)
    return header, verify_with_jwk_set(token, jwks, algorithms=algorithms)


class PrivateKeyJwt(ClientAuthMethod):
    name: ClassVar[str] = "private_key_jwt"
    accepted_for: ClassVar[frozenset[str]] = frozenset({"private_key_jwt"})
    where: ClassVar[str] = "client_assertion"
    signing_algorithms: ClassVar[tuple[str, ...]] = ALGORITHMS

    def is_used(self, authorization: str | None, form: Mapping[str, str]) -> bool:
        return is_assertion(form) and not uses_hmac(form)

    def read(self, authorization: str | None, form: Mapping[str, str]) -> ClientCredentials:
        return read_assertion_credentials(form, self, ALGORITHMS)

    async def verify(
        self, credentials: ClientCredentials, client: Client, context: ClientAuthContext | None
    ) -> bool:
        if context is None or credentials.assertion is None:
            return False
        try:
            _, claims = await verify_client_signed_jwt(
                credentials.assertion,
                client,
                context.keys,
                assertion_algorithms(client, ALGORITHMS),
            )
        except ClientKeysUnavailable:  # an unreachable or broken jwks_uri is the client's
            raise credentials.failure("the client's keys could not be fetched") from None
        except InvalidTokenError as error:
            raise credentials.failure(f"client assertion refused: {error.description}") from None
        await validate_assertion_claims(claims, credentials, context)
        return True
