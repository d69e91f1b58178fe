"""DPoP proof checks (RFC 9449 §4.3), one test per rule and failure; nonces (§8) and replay (§11.1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.dpop import (
    DpopNonces,
    DpopProofChecker,
    access_token_hash,
    is_jwk_thumbprint,
    normalize_htu,
    single_proof,
    verify_dpop_proof,
)
from shared.errors import InvalidDpopProofError, UseDpopNonceError
from shared.replay import MemoryReplayGuard
from tests.support.dpop import DpopKey

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
URL = "https://api.example/api/v1/me"


@pytest.fixture(scope="module")
def key() -> DpopKey:
    return DpopKey("ES256")


def _verify(proof: str, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {"method": "GET", "url": URL, "now": NOW.timestamp(), "window": 60}
    kwargs.update(overrides)
    return verify_dpop_proof(proof, **kwargs)


def _refused(proof: str, description: str, **overrides: Any) -> None:
    with pytest.raises(InvalidDpopProofError) as caught:
        _verify(proof, **overrides)
    assert caught.value.error == "invalid_dpop_proof"
    assert caught.value.description == description


@pytest.mark.parametrize("alg", ["ES256", "PS256", "EdDSA", "RS256"])
def test_dpop_valid_proof_of_each_algorithm_returns_its_key_thumbprint(alg: str) -> None:
    key = DpopKey(alg)
    checked = _verify(key.proof("GET", URL, now=NOW))
    assert checked.jkt == key.jkt
    assert checked.iat == NOW.timestamp()
    assert checked.expires_at == NOW.timestamp() + 60


def test_dpop_wrong_typ_is_refused(key: DpopKey) -> None:
    proof = key.proof("GET", URL, now=NOW, header={"typ": "JWT"})
    _refused(proof, "proof typ must be dpop+jwt")


@pytest.mark.parametrize("alg", ["none", "HS256", "ES384"])
def test_dpop_algorithm_outside_the_list_is_refused(key: DpopKey, alg: str) -> None:
    _refused(key.proof("GET", URL, now=NOW, header={"alg": alg}), "proof algorithm is not allowed")


def test_dpop_algorithm_missing_from_the_callers_list_is_refused(key: DpopKey) -> None:
    proof = key.proof("GET", URL, now=NOW)
    _refused(proof, "proof algorithm is not allowed", algorithms=("EdDSA",))


def test_dpop_without_jwk_is_refused(key: DpopKey) -> None:
    _refused(key.proof("GET", URL, now=NOW, drop=("jwk",)), "proof header has no jwk")


def test_dpop_jwk_with_private_members_is_refused(key: DpopKey) -> None:
    private = key.key.as_dict(private=True)
    proof = key.proof("GET", URL, now=NOW, header={"jwk": private})
    _refused(proof, "proof jwk must not contain a private key")


@pytest.mark.parametrize("name", ["jku", "x5u", "x5c", "crit"])
def test_dpop_other_key_headers_are_refused(key: DpopKey, name: str) -> None:
    proof = key.proof("GET", URL, now=NOW, header={name: ["x"]})
    _refused(proof, "proof header must carry no key but its jwk")


def test_dpop_jwk_of_another_key_type_is_refused(key: DpopKey) -> None:
    rsa = DpopKey("PS256")
    proof = key.proof("GET", URL, now=NOW, header={"jwk": rsa.jwk})
    _refused(proof, "proof jwk is not a public key for its alg")


def test_dpop_signature_by_another_key_is_refused(key: DpopKey) -> None:
    other = DpopKey("ES256")
    proof = other.proof("GET", URL, now=NOW, header={"jwk": key.jwk})
    _refused(proof, "token signature is invalid")


def test_dpop_same_header_is_checked_again_with_every_proof(key: DpopKey) -> None:
    # Headers are parsed once per segment (shared.tokens): the signature and the rules that
    # depend on the caller are still checked for each proof.
    good = key.proof("GET", URL, now=NOW)
    header, payload, signature = good.split(".")
    other = key.proof("GET", URL, now=NOW).split(".")[1]
    assert _verify(good).jkt == key.jkt

    _refused(f"{header}.{other}.{signature}", "token signature is invalid")
    _refused(good, "proof algorithm is not allowed", algorithms=("PS256",))
    assert _verify(good).jkt == key.jkt


def test_dpop_malformed_proof_is_refused() -> None:
    _refused("not.a-proof", "malformed token")


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
def test_dpop_missing_claim_is_refused(key: DpopKey, claim: str) -> None:
    descriptions = {
        "jti": "the DPoP proof needs a jti",
        "htm": "the DPoP proof htm does not match the request method",
        "htu": "the DPoP proof htu does not match the request URI",
        "iat": "the DPoP proof needs an iat",
    }
    _refused(key.proof("GET", URL, now=NOW, drop=(claim,)), descriptions[claim])


def test_dpop_other_method_is_refused(key: DpopKey) -> None:
    _refused(
        key.proof("POST", URL, now=NOW), "the DPoP proof htm does not match the request method"
    )


@pytest.mark.parametrize(
    "htu",
    ["https://api.example/api/v1/email", "http://api.example/api/v1/me", "https://evil/api/v1/me"],
)
def test_dpop_other_uri_is_refused(key: DpopKey, htu: str) -> None:
    _refused(key.proof("GET", htu, now=NOW), "the DPoP proof htu does not match the request URI")


@pytest.mark.parametrize(
    "htu",
    [
        "HTTPS://API.EXAMPLE/api/v1/me",
        "https://api.example:443/api/v1/me",
        "https://api.example/api/v1/../v1/./me",
        "https://api.example/api/v1/%6De",
        "https://api.example/api/v1/me?x=1#frag",
    ],
)
def test_dpop_uri_equal_after_rfc_3986_normalisation_is_accepted(key: DpopKey, htu: str) -> None:
    assert _verify(key.proof("GET", htu, now=NOW)).jkt == key.jkt


def test_dpop_normalize_htu_rules() -> None:
    assert normalize_htu("http://Example.COM:80") == "http://example.com/"
    assert normalize_htu("https://h:8443/a/%7e/b%2f") == "https://h:8443/a/~/b%2F"
    assert normalize_htu("https://[::1]:443/x") == "https://[::1]/x"
    for bad in ("ftp://h/x", "/relative", "https:///nohost", "https://h:99999/"):
        with pytest.raises(ValueError):
            normalize_htu(bad)


@pytest.mark.parametrize("iat", [10**400, -(10**400)])
def test_dpop_iat_past_floats_range_is_refused_not_a_crash(key: DpopKey, iat: int) -> None:
    proof = key.proof("GET", URL, now=NOW, claims={"iat": iat})
    _refused(proof, "the DPoP proof iat is outside the accepted window")


@pytest.mark.parametrize("offset", [-61, 61])
def test_dpop_iat_outside_the_window_is_refused(key: DpopKey, offset: int) -> None:
    proof = key.proof("GET", URL, now=NOW, claims={"iat": int(NOW.timestamp()) + offset})
    _refused(proof, "the DPoP proof iat is outside the accepted window")


@pytest.mark.parametrize("offset", [-60, 60])
def test_dpop_iat_at_the_window_edge_is_accepted(key: DpopKey, offset: int) -> None:
    proof = key.proof("GET", URL, now=NOW, claims={"iat": int(NOW.timestamp()) + offset})
    assert _verify(proof).jkt == key.jkt


def test_dpop_ath_matches_the_access_token(key: DpopKey) -> None:
    proof = key.proof("GET", URL, now=NOW, access_token="token-a")
    assert _verify(proof, access_token="token-a").jkt == key.jkt
    _refused(proof, "the DPoP proof ath does not match the access token", access_token="token-b")
    _refused(
        key.proof("GET", URL, now=NOW),
        "the DPoP proof ath does not match the access token",
        access_token="token-a",
    )


def test_dpop_access_token_hash_is_base64url_sha256() -> None:
    # RFC 9449 §7.1 example: the hash of the example access token.
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


def test_dpop_nonce_missing_or_wrong_asks_for_the_current_one(key: DpopKey) -> None:
    nonces = DpopNonces(b"k" * 32, lifetime=300)
    current = nonces.current(NOW.timestamp())
    for nonce in (None, "made-up"):
        with pytest.raises(UseDpopNonceError) as caught:
            _verify(key.proof("GET", URL, now=NOW, nonce=nonce), nonces=nonces)
        assert caught.value.error == "use_dpop_nonce"
        assert caught.value.headers()["DPoP-Nonce"] == current
    assert _verify(key.proof("GET", URL, now=NOW, nonce=current), nonces=nonces).jkt == key.jkt


def test_dpop_nonce_lives_one_step_more_and_no_longer() -> None:
    nonces = DpopNonces(b"k" * 32, lifetime=300)
    start = 1_800_000_000.0 - 1_800_000_000.0 % 300
    nonce = nonces.current(start)
    assert nonces.is_valid(nonce, start + 299)
    assert nonces.is_valid(nonce, start + 599)
    assert not nonces.is_valid(nonce, start + 600)
    assert not DpopNonces(b"other" * 8, lifetime=300).is_valid(nonce, start)
    assert not nonces.is_valid(123, start)


def test_dpop_single_proof_refuses_two_headers() -> None:
    assert single_proof([]) is None
    assert single_proof(["a"]) == "a"
    with pytest.raises(InvalidDpopProofError):
        single_proof(["a", "b"])


def test_dpop_jwk_thumbprint_shape() -> None:
    assert is_jwk_thumbprint(DpopKey("ES256").jkt)
    for bad in ("", "short", "a" * 44, "a" * 42 + "+"):
        assert not is_jwk_thumbprint(bad)


async def test_dpop_checker_refuses_a_replay_and_another_key(key: DpopKey) -> None:
    checker = DpopProofChecker(MemoryReplayGuard())
    proof = key.proof("GET", URL, now=NOW, access_token="tok")
    kwargs: dict[str, Any] = {
        "method": "GET",
        "url": URL,
        "access_token": "tok",
        "now": NOW.timestamp(),
    }

    assert (await checker.check([proof], jkt=key.jkt, **kwargs)).jkt == key.jkt
    with pytest.raises(InvalidDpopProofError, match="already used"):
        await checker.check([proof], jkt=key.jkt, **kwargs)
    fresh = key.proof("GET", URL, now=NOW, access_token="tok")
    with pytest.raises(InvalidDpopProofError, match="not the key the token is bound to"):
        await checker.check([fresh], jkt=DpopKey("ES256").jkt, **kwargs)
    with pytest.raises(InvalidDpopProofError, match="a DPoP proof is required"):
        await checker.check([], jkt=key.jkt, **kwargs)
