"""The one module that touches python-jose: signing, and verifying JWTs with a strict policy (RFC 8725).

Every verification names its algorithms, issuer and audience; headers that carry keys or key
URLs, `crit` extensions and unknown `kid`s are refused before any signature work is done.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from jose import jwk, jws
from jose.exceptions import JOSEError
from pydantic import ValidationError

from shared.claims import ACCESS_TOKEN_TYP, AccessTokenClaims, IdTokenClaims
from shared.errors import InvalidTokenError

# Asymmetric only: an HMAC algorithm would let anyone holding the public key forge tokens.
SUPPORTED_ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_LENGTH = 8192
# The most clock leeway either service may be configured with (their `leeway` settings).
MAX_LEEWAY = 300
# RFC 8725 §3.10 / RFC 7515 §4.1: headers that would let the token choose its own key.
FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})

JoseKey = Any  # python-jose's backend key object (Cryptography RSA/EC key)


class VerificationKeys(Protocol):
    """Where a verifier finds the public key for a `kid` (a JWKS cache, or the issuer's own key set)."""

    async def get_verification_key(self, kid: str) -> tuple[str, JoseKey] | None: ...


@lru_cache(maxsize=32)
def load_private_key(pem: bytes, alg: str) -> JoseKey:
    """Parse a PEM key once per process: RSA parsing validates the key and costs ~50 ms, and a
    key-schedule reload should not pay it again for keys it already holds."""
    return jwk.construct(pem, alg)


def load_public_jwk(data: Mapping[str, Any], alg: str) -> JoseKey:
    return jwk.construct(dict(data), alg)


def public_jwk(private_key: JoseKey, *, kid: str, alg: str) -> dict[str, Any]:
    data: dict[str, Any] = private_key.public_key().to_dict()
    data.update({"kid": kid, "alg": alg, "use": "sig"})
    return data


def sign(claims: Mapping[str, Any], key: JoseKey, *, kid: str, alg: str, typ: str) -> str:
    headers = {"kid": kid, "typ": typ}
    token: str = jws.sign(dict(claims), key, headers=headers, algorithm=alg)
    return token


def read_header(token: str, *, allowed_algorithms: tuple[str, ...]) -> dict[str, Any]:
    """Parse and police the JOSE header without trusting the token yet."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidTokenError("malformed token")
    try:
        header: dict[str, Any] = jws.get_unverified_header(token)
    except JOSEError:
        raise InvalidTokenError("malformed token") from None
    alg = header.get("alg")
    if alg not in allowed_algorithms:
        raise InvalidTokenError("token algorithm is not allowed")
    if FORBIDDEN_HEADERS & header.keys():
        raise InvalidTokenError("token header must not carry keys")
    if "crit" in header:
        raise InvalidTokenError("token header has critical extensions we do not understand")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise InvalidTokenError("token header has no kid")
    return header


def verify_signature(token: str, key: JoseKey, alg: str) -> dict[str, Any]:
    """Check the signature with one named algorithm and return the JSON payload."""
    try:
        payload = jws.verify(token, key, algorithms=[alg])
        claims = json.loads(payload)
    except (JOSEError, ValueError):
        raise InvalidTokenError("token signature is invalid") from None
    if not isinstance(claims, dict):
        raise InvalidTokenError("token payload is not a JSON object")
    return claims


def is_access_token_typ(typ: object) -> bool:
    # RFC 9068 §4: "at+jwt", or the full media type; media types compare case-insensitively.
    return isinstance(typ, str) and typ.lower() in (
        ACCESS_TOKEN_TYP,
        "application/" + ACCESS_TOKEN_TYP,
    )


def validate_time_claims(
    claims: Mapping[str, Any], *, now: datetime, leeway: int, require_iat: bool = True
) -> None:
    """`exp`, `nbf` and `iat` checks with a small leeway (RFC 7519 §4.1.4-4.1.6)."""
    ts = now.timestamp()
    exp = _numeric_date(claims, "exp")
    if exp is None or exp <= ts - leeway:
        raise InvalidTokenError("token has expired")
    if "nbf" in claims:
        nbf = _numeric_date(claims, "nbf")
        if nbf is None or nbf > ts + leeway:
            raise InvalidTokenError("token is not valid yet")
    if require_iat or "iat" in claims:
        iat = _numeric_date(claims, "iat")
        if iat is None or iat > ts + leeway:
            raise InvalidTokenError("token was issued in the future")


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """RFC 7519 §2 NumericDate, or None when the claim is missing or not a number."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def validate_issuer_and_audience(claims: Mapping[str, Any], *, issuer: str, audience: str) -> None:
    if claims.get("iss") != issuer:
        raise InvalidTokenError("token issuer is not trusted")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise InvalidTokenError("token is not meant for this audience")


async def verify_jwt(
    token: str,
    *,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: int,
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS,
    typ_check: Callable[[object], bool] | None = None,
) -> dict[str, Any]:
    """Header policy, key by `kid`, signature, issuer, audience and time; returns the claims."""
    header = read_header(token, allowed_algorithms=algorithms)
    if typ_check is not None and not typ_check(header.get("typ")):
        # RFC 9068 §4: an ID token or any other JWT signed by the same key is not an access token.
        raise InvalidTokenError("token is not an access token")
    found = await keys.get_verification_key(header["kid"])
    if found is None:
        raise InvalidTokenError("token was signed by an unknown key")
    key_alg, key = found
    if key_alg != header["alg"]:
        raise InvalidTokenError("token algorithm does not match its key")
    claims = verify_signature(token, key, key_alg)
    validate_issuer_and_audience(claims, issuer=issuer, audience=audience)
    validate_time_claims(claims, now=now, leeway=leeway)
    return claims


async def decode_access_token(
    token: str,
    *,
    keys: VerificationKeys,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: int = 30,
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS,
) -> AccessTokenClaims:
    """Verify an RFC 9068 access token; raises `InvalidTokenError` with a short reason."""
    claims = await verify_jwt(
        token,
        keys=keys,
        issuer=issuer,
        audience=audience,
        now=now,
        leeway=leeway,
        algorithms=algorithms,
        typ_check=is_access_token_typ,
    )
    try:
        return AccessTokenClaims.model_validate(claims)
    except ValidationError:
        raise InvalidTokenError("token claims are malformed") from None


async def decode_id_token_hint(
    token: str,
    *,
    keys: VerificationKeys,
    issuer: str,
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS,
) -> IdTokenClaims:
    """Verify an ID token we issued, presented back to us as `id_token_hint`.

    OIDC Core §3.1.2.1 and RP-Initiated Logout §2: the hint may have expired, so `exp` is not
    checked, and its audience is whichever client it was issued to, which the caller compares
    with the client it expects. Signature, issuer and token type are checked here.
    """
    header = read_header(token, allowed_algorithms=algorithms)
    if is_access_token_typ(header.get("typ")):
        raise InvalidTokenError("an access token is not an ID token")
    found = await keys.get_verification_key(header["kid"])
    if found is None or found[0] != header["alg"]:
        raise InvalidTokenError("token was signed by an unknown key")
    claims = verify_signature(token, found[1], found[0])
    if claims.get("iss") != issuer:
        raise InvalidTokenError("token issuer is not trusted")
    try:
        return IdTokenClaims.model_validate(claims)
    except ValidationError:
        raise InvalidTokenError("token claims are malformed") from None
