"""Verified-token cache: claims come back only while the token is within its validity window."""

from __future__ import annotations

from shared.claims import AccessTokenClaims
from shared.token_cache import VerifiedTokenCache


def _claims(exp: int, nbf: int | None = None) -> AccessTokenClaims:
    return AccessTokenClaims(
        iss="i", sub="s", aud="a", client_id="c", iat=0, exp=exp, jti="j", nbf=nbf
    )


def test_token_cache_returns_claims_until_exp_plus_leeway() -> None:
    cache = VerifiedTokenCache()
    cache.put("t", _claims(exp=100))
    assert cache.get("t", now=120, leeway=30) is not None
    assert cache.get("t", now=130, leeway=30) is None
    assert len(cache) == 0  # an expired entry is dropped when met


def test_token_cache_honours_nbf() -> None:
    cache = VerifiedTokenCache()
    cache.put("t", _claims(exp=1000, nbf=500))
    assert cache.get("t", now=400, leeway=30) is None


def test_token_cache_is_keyed_by_the_whole_token_and_bounded() -> None:
    cache = VerifiedTokenCache(max_entries=2)
    for token in ("a.b.c", "a.b.d", "x.b.c"):
        cache.put(token, _claims(exp=1000))
    assert cache.get("a.b.c", now=0, leeway=0) is None  # evicted first
    assert cache.get("a.b.d", now=0, leeway=0) is not None
    assert cache.get("a.b.e", now=0, leeway=0) is None


def test_token_cache_of_size_zero_keeps_nothing() -> None:
    cache = VerifiedTokenCache(max_entries=0)
    cache.put("t", _claims(exp=1000))
    assert len(cache) == 0
