"""Claims of the JWTs we issue: access tokens (RFC 9068 §2.2) and ID tokens (OIDC Core §2), and the
checks of registered claims every verifier makes (RFC 7519 §4.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import InvalidTokenError
from shared.scopes import parse_scope

ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - RFC 9068 §2.1 media type
GRANT_ID_CLAIM = "grant_id"  # ours: links a token to its grant (token family) for revocation


class AccessTokenClaims(BaseModel):
    """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are required."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    iss: str
    sub: str = Field(min_length=1)
    aud: str | list[str]
    client_id: str = Field(min_length=1)
    scope: str = ""
    iat: int
    exp: int
    jti: str = Field(min_length=1)
    nbf: int | None = None
    auth_time: int | None = None
    grant_id: str | None = None
    # RFC 7800 §3.1 confirmation; RFC 9449 §6.1 `{"jkt": ...}` for a DPoP-bound token.
    cnf: dict[str, Any] | None = None
    # RFC 8693 §4.1: who acts for `sub` (delegation), nested for a chain; None when nobody does.
    act: dict[str, Any] | None = None

    @property
    def dpop_jkt(self) -> str | None:
        jkt = self.cnf.get("jkt") if self.cnf else None
        return jkt if isinstance(jkt, str) else None

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scope(self.scope)

    @property
    def audiences(self) -> tuple[str, ...]:
        return (self.aud,) if isinstance(self.aud, str) else tuple(self.aud)


class IdTokenClaims(BaseModel):
    """OIDC Core §2 and §3.1.3.6."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    iss: str
    sub: str
    aud: str | list[str]
    exp: int
    iat: int
    auth_time: int | None = None
    nonce: str | None = None
    azp: str | None = None
    at_hash: str | None = None
    sid: str | None = None

    @property
    def audiences(self) -> tuple[str, ...]:
        return (self.aud,) if isinstance(self.aud, str) else tuple(self.aud)


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
    try:
        return float(value)
    except OverflowError:  # an integer past float's range (JSON allows 10**400): not a date
        return None


def validate_issuer_and_audience(claims: Mapping[str, Any], *, issuer: str, audience: str) -> None:
    if claims.get("iss") != issuer:
        raise InvalidTokenError("token issuer is not trusted")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise InvalidTokenError("token is not meant for this audience")
