"""An access token at a protected resource, Bearer (RFC 6750 §2.1) or DPoP (RFC 9449 §7), the
same way on every Python resource server: which scheme, which challenge, and the proof check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from shared.bearer import bearer_from_header
from shared.claims import AccessTokenClaims
from shared.dpop import DpopProofChecker
from shared.errors import (
    BearerTokenError,
    DpopChallengeError,
    InvalidDpopProofError,
    InvalidTokenError,
    MissingTokenError,
    OAuthError,
    UseDpopNonceError,
    format_challenge,
)

DPOP_SCHEME = "dpop"


def dpop_from_header(
    authorization: str | None, *, realm: str, algs: str, resource_metadata: str | None = None
) -> str | None:
    """The token of an `Authorization: DPoP …` header (RFC 9449 §7.1); None for other schemes."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != DPOP_SCHEME:
        return None
    token = token.strip()
    if not token or " " in token:
        raise DpopChallengeError(
            "invalid_request",
            "the Authorization header must be 'DPoP <token>'",
            realm=realm,
            algs=algs,
            status=400,
            resource_metadata=resource_metadata,
        )
    return token


def missing_token(
    realm: str, algs: str, *, resource_metadata: str | None = None, scope: str | None = None
) -> MissingTokenError:
    """RFC 9449 §7.1 and RFC 7235 §4.1: no credentials get a challenge for each scheme we take,
    each naming the scope to ask for (RFC 6750 §3) and the metadata URL (RFC 9728 §5.1) if given."""
    error = MissingTokenError(realm=realm, scope=scope, resource_metadata=resource_metadata)
    dpop = format_challenge(
        "DPoP",
        [
            ("realm", realm),
            ("scope", scope),
            ("algs", algs),
            ("resource_metadata", resource_metadata),
        ],
    )
    error.challenge = f"{error.challenge}, {dpop}"
    return error


def as_dpop_challenge(
    error: OAuthError, *, realm: str, algs: str, resource_metadata: str | None = None
) -> DpopChallengeError:
    """The same refusal in the DPoP scheme: the caller used DPoP, so the challenge is DPoP."""
    if isinstance(error, UseDpopNonceError):
        return DpopChallengeError(
            error.error,
            error.description,
            realm=realm,
            algs=algs,
            nonce=error.nonce,
            resource_metadata=resource_metadata,
        )
    # The scope travels as a value, not parsed back out of the Bearer challenge's text.
    scope = error.scope if isinstance(error, BearerTokenError) else None
    status = 401 if isinstance(error, InvalidDpopProofError) else error.status_code
    return DpopChallengeError(
        error.error,
        error.description,
        realm=realm,
        algs=algs,
        status=status,
        scope=scope,
        resource_metadata=resource_metadata,
    )


async def authenticate_access_token(
    authorization: str | None,
    dpop_headers: Sequence[str],
    *,
    verify: Callable[[str], Awaitable[AccessTokenClaims]],
    checker: DpopProofChecker,
    method: str,
    url: str,
    now: float,
    realm: str,
    resource_metadata: str | None = None,
    challenge_scope: str | None = None,
) -> tuple[AccessTokenClaims, bool]:
    """The verified claims and whether DPoP was used. `verify` checks the token itself
    (signature, claims, revocation) and raises InvalidTokenError; the proof is checked here on
    every request, so a token cache in `verify` never skips it. Every challenge names
    `resource_metadata` (RFC 9728 §5.1); one for a request without credentials also suggests
    `challenge_scope` (RFC 6750 §3)."""
    algs = " ".join(checker.algorithms)
    token = dpop_from_header(
        authorization, realm=realm, algs=algs, resource_metadata=resource_metadata
    )
    if token is None:
        token = bearer_from_header(authorization, realm=realm, resource_metadata=resource_metadata)
        if token is None:
            raise missing_token(
                realm, algs, resource_metadata=resource_metadata, scope=challenge_scope
            )
        claims = await verify(token)
        if claims.dpop_jkt is not None:
            # RFC 9449 §7.2: a DPoP-bound token is never accepted as a bearer token.
            raise DpopChallengeError(
                "invalid_token",
                "the access token is DPoP-bound: send it with the DPoP scheme and a proof",
                realm=realm,
                algs=algs,
                resource_metadata=resource_metadata,
            )
        return claims, False
    try:
        claims = await verify(token)
        if claims.dpop_jkt is None:
            raise InvalidTokenError("the access token is not DPoP-bound: send it as Bearer")
        await checker.check(
            dpop_headers,
            method=method,
            url=url,
            access_token=token,
            jkt=claims.dpop_jkt,
            now=now,
        )
    except OAuthError as error:
        raise as_dpop_challenge(
            error, realm=realm, algs=algs, resource_metadata=resource_metadata
        ) from None
    return claims, True
