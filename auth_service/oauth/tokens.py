"""Minting: RFC 9068 access tokens, OIDC ID tokens (OIDC Core §2, §3.1.3.6) and refresh tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from auth_service.oauth import fapi2
from auth_service.repositories.refresh_tokens import RefreshTokenRepository
from auth_service.security.keys import KeySet
from auth_service.security.secrets import hash_token, new_token
from shared.claims import ACCESS_TOKEN_TYP, GRANT_ID_CLAIM
from shared.models import Client, Grant, RefreshToken
from shared.scopes import format_scope
from shared.tokens import sign


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    issuer: str
    audience: str
    access_token_ttl: int
    id_token_ttl: int
    refresh_token_ttl: int
    refresh_token_idle_ttl: int
    # AUTH_SIGNING_ALG and AUTH_SIGNING_ALGS: the default and every algorithm we hold a key for.
    signing_alg: str = "RS256"
    signing_algs: tuple[str, ...] = ("RS256",)


class TokenMinter:
    """Signs with the key set's current key; `key_set` is read per call so rotation takes effect."""

    def __init__(self, policy: TokenPolicy, key_set: Callable[[], KeySet]) -> None:
        self.policy = policy
        self._key_set = key_set

    def access_token_ttl(self, client: Client) -> int:
        return client.access_token_ttl or self.policy.access_token_ttl

    def signing_alg(self, client: Client) -> str:
        """OIDC Registration §2 id_token_signed_response_alg, also for the client's access tokens
        (FAPI 2.0 Security Profile §5.4 asks PS256, ES256 or EdDSA of both); else the default.
        A choice we no longer hold a key for (AUTH_SIGNING_ALGS shrank) falls back to it too."""
        alg = client.id_token_signed_response_alg
        if alg in self.policy.signing_algs:
            return alg
        if fapi2.is_fapi2(client.profile):
            # FAPI 2.0 Security Profile §5.4.1: never RS256, even when the choice fell away.
            held = [a for a in fapi2.SIGNING_ALGS if a in self.policy.signing_algs]
            if held:
                return held[0]
        return self.policy.signing_alg

    def access_token(
        self,
        *,
        now: datetime,
        sub: str,
        client: Client,
        scopes: frozenset[str],
        grant_id: str | None,
        auth_time: datetime | None,
        cnf: Mapping[str, Any] | None = None,
        audience: str | None = None,
        act: Mapping[str, Any] | None = None,
        lifetime: int | None = None,
    ) -> str:
        """An RFC 9068 §2 access token; `cnf` binds it to a key (RFC 7800 §3.1). `audience` is
        the resource it is for (RFC 8707 §2, RFC 9068 §3); None is the default audience. `act`
        names who acts for `sub` (RFC 8693 §4.1); `lifetime` (seconds) replaces the client's."""
        iat = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self.policy.issuer,
            "sub": sub,
            "aud": self.policy.audience if audience is None else audience,
            "client_id": client.client_id,
            "scope": format_scope(scopes),
            "iat": iat,
            "exp": iat + (self.access_token_ttl(client) if lifetime is None else lifetime),
            "jti": secrets.token_urlsafe(16),
        }
        if grant_id is not None:
            claims[GRANT_ID_CLAIM] = grant_id
        if auth_time is not None:
            claims["auth_time"] = int(auth_time.timestamp())  # RFC 9068 §2.2.1
        if cnf is not None:
            claims["cnf"] = dict(cnf)
        if act is not None:
            claims["act"] = dict(act)
        return self._sign(claims, now, typ=ACCESS_TOKEN_TYP, alg=self.signing_alg(client))

    def id_token(
        self,
        *,
        now: datetime,
        sub: str,
        client_id: str,
        auth_time: datetime,
        nonce: str | None,
        access_token: str | None,
        alg: str | None = None,
    ) -> str:
        """An OIDC Core §2 ID token; `at_hash` per §3.1.3.6 when an access token comes with it.
        `alg` is the client's `signing_alg`; None signs with the server default."""
        iat = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self.policy.issuer,
            "sub": sub,
            "aud": client_id,
            "azp": client_id,
            "iat": iat,
            "exp": iat + self.policy.id_token_ttl,
            "auth_time": int(auth_time.timestamp()),
        }
        if nonce is not None:
            claims["nonce"] = nonce  # OIDC Core §3.1.3.6: echoed exactly as the request sent it
        if access_token is not None:
            claims["at_hash"] = at_hash(access_token)
        return self._sign(claims, now, typ="JWT", alg=alg or self.policy.signing_alg)

    def _sign(self, claims: dict[str, Any], now: datetime, *, typ: str, alg: str) -> str:
        key = self._key_set().signing_key(now, alg)
        return sign(claims, key.require_private_key(), kid=key.kid, alg=key.alg, typ=typ)


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: left half of SHA-256 (our algorithms are all 256-bit), base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


async def issue_refresh_token(
    repo: RefreshTokenRepository,
    *,
    policy: TokenPolicy,
    client: Client,
    grant: Grant,
    scopes: frozenset[str],
    now: datetime,
    parent_hash: str | None = None,
) -> str:
    """A new token of the grant's family; it dies at the family's absolute or its own idle expiry."""
    token = new_token()
    await repo.add(
        RefreshToken(
            token_hash=hash_token(token),
            grant_id=grant.id,
            client_id=client.client_id,
            scope=format_scope(scopes),
            parent_hash=parent_hash,
            created_at=now,
            expires_at=refresh_token_expiry(policy, client, grant, now),
        )
    )
    return token


def refresh_token_expiry(
    policy: TokenPolicy, client: Client, grant: Grant, now: datetime
) -> datetime:
    """A refresh token used at `now` lives until the family's absolute expiry or its idle one."""
    absolute_ttl = client.refresh_token_ttl or policy.refresh_token_ttl
    family_expiry = grant.created_at + timedelta(seconds=absolute_ttl)
    return min(family_expiry, now + timedelta(seconds=policy.refresh_token_idle_ttl))
