"""What `private_key_jwt` and `client_secret_jwt` share: reading a JWT client assertion (RFC
7521 §4.2) and checking its claims (RFC 7523 §3, OIDC Core §9).

The checks: `iss` = `sub` = the client id (and `client_id` in the body, when sent, the same);
`aud` names our issuer identifier or the token endpoint URL; `exp` present and at most
MAX_ASSERTION_LIFETIME ahead; `jti` used once until `exp`. Every failure is invalid_client
(RFC 7521 §4.2.1) with a short reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from auth_service.oauth.client_auth.base import (
    ClientAuthContext,
    ClientAuthMethod,
    ClientCredentials,
)
from shared.errors import InvalidClientError, InvalidTokenError
from shared.tokens import client_jwt_alg, read_assertion

# RFC 7523 §2.2 / RFC 7521 §4.2: the assertion type of a JWT client assertion.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Assertions are single-use and short-lived (RFC 7523 §3 item 4): the replay store keeps each
# jti until its exp, so a far exp would also mean a long-lived store entry.
MAX_ASSERTION_LIFETIME = 300
MAX_JTI_LENGTH = 255


def is_assertion(form: Mapping[str, str]) -> bool:
    return "client_assertion" in form or "client_assertion_type" in form


def uses_hmac(form: Mapping[str, str]) -> bool:
    """Whether the assertion's header names an HMAC algorithm: then it is client_secret_jwt.
    Anything unreadable counts as not HMAC (and fails as private_key_jwt)."""
    alg = client_jwt_alg(form.get("client_assertion", ""))
    return alg is not None and alg.startswith("HS")


# Explicit types of other JWTs this server reads or issues (RFC 9101 §4, RFC 9449 §4.2,
# RFC 9068 §2.1, OIDC Back-Channel Logout §2.4, RFC 8417 §2.3); "JWT" or none is what clients send.
OTHER_JWT_TYPES = frozenset(
    {"oauth-authz-req+jwt", "dpop+jwt", "at+jwt", "logout+jwt", "secevent+jwt"}
)


def _typ_of_another_kind(typ: object) -> bool:
    if typ is None:
        return False
    if not isinstance(typ, str):
        return True
    return typ.lower().removeprefix("application/") in OTHER_JWT_TYPES


def read_assertion_credentials(
    form: Mapping[str, str], method: ClientAuthMethod, algorithms: tuple[str, ...]
) -> ClientCredentials:
    """RFC 7521 §4.2: the assertion names the client (`sub`); `client_id` may repeat it."""
    if form.get("client_assertion_type") != JWT_BEARER:
        raise InvalidClientError(f"client_assertion_type must be {JWT_BEARER}")
    assertion = form.get("client_assertion")
    if not assertion:
        raise InvalidClientError("client_assertion is missing")
    try:
        header, claims = read_assertion(assertion, allowed_algorithms=algorithms)
    except InvalidTokenError as error:
        raise InvalidClientError(f"client assertion refused: {error.description}") from None
    if _typ_of_another_kind(header.get("typ")):
        # RFC 8725 §3.11: a JWT made for another purpose (a request object seen in a browser's
        # address bar, a DPoP proof, an access token) is never accepted as a client assertion.
        raise InvalidClientError("client assertion typ names another kind of JWT")
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(sub, str) or not sub or iss != sub:
        # RFC 7523 §3 items 1-2: for client authentication both name the client.
        raise InvalidClientError("client assertion iss and sub must both be the client_id")
    if form.get("client_id", sub) != sub:
        raise InvalidClientError("client_id differs from the client assertion sub")
    return ClientCredentials(sub, None, method, assertion=assertion)


async def validate_assertion_claims(
    claims: dict[str, Any], credentials: ClientCredentials, context: ClientAuthContext
) -> None:
    """RFC 7523 §3 items 1-7 on verified claims; raises invalid_client."""
    client_id = credentials.client_id
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise credentials.failure("client assertion iss and sub must both be the client_id")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a in context.audiences for a in audiences):
        # RFC 7523 §3 item 3: the authorization server must be an intended audience.
        raise credentials.failure("client assertion aud must be the issuer identifier")
    now = context.now.timestamp()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise credentials.failure("client assertion has no exp")  # RFC 7523 §3 item 4
    if exp <= now - context.leeway:
        raise credentials.failure("client assertion has expired")
    if exp > now + MAX_ASSERTION_LIFETIME + context.leeway:
        raise credentials.failure("client assertion exp is more than 5 minutes ahead")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int | float) or nbf > now + context.leeway):
        raise credentials.failure("client assertion is not valid yet")  # RFC 7523 §3 item 5
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, int | float) or iat > now + context.leeway):
        raise credentials.failure("client assertion was issued in the future")  # item 6
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise credentials.failure("client assertion has no jti")  # RFC 7523 §3 item 7
    expires_at = datetime.fromtimestamp(float(exp), UTC) + timedelta(seconds=context.leeway)
    if not await context.first_use(client_id, jti, expires_at):
        raise credentials.failure("client assertion jti was already used")
