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
    protocol_text,
)

DPOP_SCHEME = "dpop"


def dpop_from_header(authorization: str | None, *, realm: str, algs: str) -> str | None:
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
        )
    return token


def missing_token(realm: str, algs: str) -> MissingTokenError:
    """RFC 9449 §7.1 and RFC 7235 §4.1: no credentials get a challenge for each scheme we take."""
    error = MissingTokenError(realm=realm)
    error.challenge = f'{error.challenge}, DPoP realm="{protocol_text(realm)}", algs="{algs}"'
    return error


def as_dpop_challenge(error: OAuthError, *, realm: str, algs: str) -> DpopChallengeError:
    """The same refusal in the DPoP scheme: the caller used DPoP, so the challenge is DPoP."""
    if isinstance(error, UseDpopNonceError):
        return DpopChallengeError(
            error.error, error.description, realm=realm, algs=algs, nonce=error.nonce
        )
    scope = None
    if isinstance(error, BearerTokenError) and error.challenge and 'scope="' in error.challenge:
        scope = error.challenge.rpartition('scope="')[2].rstrip('"')
    status = 401 if isinstance(error, InvalidDpopProofError) else error.status_code
    return DpopChallengeError(
        error.error, error.description, realm=realm, algs=algs, status=status, scope=scope
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
) -> tuple[AccessTokenClaims, bool]:
    """The verified claims and whether DPoP was used. `verify` checks the token itself
    (signature, claims, revocation) and raises InvalidTokenError; the proof is checked here on
    every request, so a token cache in `verify` never skips it."""
    algs = " ".join(checker.algorithms)
    token = dpop_from_header(authorization, realm=realm, algs=algs)
    if token is None:
        token = bearer_from_header(authorization, realm=realm)
        if token is None:
            raise missing_token(realm, algs)
        claims = await verify(token)
        if claims.dpop_jkt is not None:
            # RFC 9449 §7.2: a DPoP-bound token is never accepted as a bearer token.
            raise DpopChallengeError(
                "invalid_token",
                "the access token is DPoP-bound: send it with the DPoP scheme and a proof",
                realm=realm,
                algs=algs,
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
        raise as_dpop_challenge(error, realm=realm, algs=algs) from None
    return claims, True
