"""shared.tokens per algorithm: RS256, PS256, ES256 and EdDSA round trips (RFC 7518 §3.3-3.5,
RFC 8037 §3.1), and the algorithm confusions RFC 8725 §2.1 and §3.1 warn about."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from joserfc.errors import UnsupportedKeyAlgorithmError

from auth_service.security.keys import NewKey, new_signing_key
from shared.claims import AccessTokenClaims
from shared.errors import InvalidTokenError
from shared.tokens import (
    SIGNATURE_ALGORITHMS,
    JoseKey,
    decode_access_token,
    load_private_key,
    load_public_jwk,
    sign,
    verify_signature,
)
from tests.conftest import AUDIENCE, ISSUER
from tests.support.forge import Forger, access_claims, b64url_decode, unverified_header

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class StaticKeys:
    """A VerificationKeys with a fixed kid -> (alg, key) map."""

    def __init__(self, *keys: NewKey) -> None:
        self.keys = {k.kid: (k.alg, load_public_jwk(k.public_jwk, k.alg)) for k in keys}

    async def get_verification_key(self, kid: str) -> tuple[str, JoseKey] | None:
        return self.keys.get(kid)


@pytest.fixture(scope="module")
def key_for() -> dict[str, NewKey]:
    return {alg: new_signing_key(alg) for alg in SIGNATURE_ALGORITHMS}


@pytest.fixture
def claims() -> dict[str, Any]:
    return access_claims(NOW, sub="user-1", client_id="client-1")


def _sign(claims: dict[str, Any], key: NewKey, *, kid: str | None = None) -> str:
    private = load_private_key(key.pem, key.alg)
    return sign(claims, private, kid=kid or key.kid, alg=key.alg, typ="at+jwt")


async def _decode(
    token: str, keys: StaticKeys, algorithms: tuple[str, ...] | None = None
) -> AccessTokenClaims:
    kwargs: dict[str, Any] = {} if algorithms is None else {"algorithms": algorithms}
    return await decode_access_token(
        token, keys=keys, issuer=ISSUER, audience=AUDIENCE, now=NOW, **kwargs
    )


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", SIGNATURE_ALGORITHMS)
async def test_token_signed_with_each_algorithm_verifies_where_that_algorithm_is_allowed(
    key_for: dict[str, NewKey], claims: dict[str, Any], alg: str
) -> None:
    token = _sign(claims, key_for[alg])

    decoded = await _decode(token, StaticKeys(key_for[alg]), algorithms=(alg,))

    assert decoded == AccessTokenClaims.model_validate(claims)
    assert unverified_header(token) == {"alg": alg, "kid": key_for[alg].kid, "typ": "at+jwt"}


def test_sign_writes_the_header_sorted_and_without_spaces(
    key_for: dict[str, NewKey], claims: dict[str, Any]
) -> None:
    # The exact bytes python-jose wrote: tokens issued before and after the switch look alike.
    token = _sign(claims, key_for["RS256"])

    header = {"typ": "at+jwt", "kid": key_for["RS256"].kid, "alg": "RS256"}
    expected = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("ascii")
    assert b64url_decode(token.split(".")[0]) == expected


@pytest.mark.parametrize("alg", SIGNATURE_ALGORITHMS)
async def test_token_of_each_algorithm_verifies_with_the_default_list(
    key_for: dict[str, NewKey], claims: dict[str, Any], alg: str
) -> None:
    # The auth service holds a key per algorithm (AUTH_SIGNING_ALGS), so verifiers take all four.
    decoded = await _decode(_sign(claims, key_for[alg]), StaticKeys(key_for[alg]))

    assert decoded.jti == claims["jti"]


@pytest.mark.parametrize(("alg", "allowed"), [("PS256", ("RS256",)), ("EdDSA", ("ES256",))])
async def test_token_of_an_algorithm_outside_the_verifiers_list_is_refused(
    key_for: dict[str, NewKey], claims: dict[str, Any], alg: str, allowed: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidTokenError, match="^token algorithm is not allowed$"):
        await _decode(_sign(claims, key_for[alg]), StaticKeys(key_for[alg]), algorithms=allowed)


async def test_eddsa_token_signed_by_another_ed25519_key_under_same_kid_is_refused(
    key_for: dict[str, NewKey], claims: dict[str, Any]
) -> None:
    impostor = _sign(claims, new_signing_key("EdDSA"), kid=key_for["EdDSA"].kid)

    with pytest.raises(InvalidTokenError, match="^token signature is invalid$"):
        await _decode(impostor, StaticKeys(key_for["EdDSA"]), algorithms=("EdDSA",))


# --- algorithm confusion -------------------------------------------------------------------------


async def test_verify_ps256_token_signed_with_rs256_key_is_refused(
    key_for: dict[str, NewKey], claims: dict[str, Any]
) -> None:
    rsa_key = key_for["RS256"]
    forger = Forger.from_pem(rsa_key.kid, rsa_key.pem)
    header = {"alg": "PS256", "kid": rsa_key.kid, "typ": "at+jwt"}
    token = forger.sign_bytes(header, json.dumps(claims).encode(), alg="PS256")

    with pytest.raises(InvalidTokenError, match="^token algorithm does not match its key$"):
        await _decode(token, StaticKeys(rsa_key), algorithms=("RS256", "PS256"))


def test_verify_signature_of_ps256_token_with_key_loaded_for_rs256_is_refused(
    key_for: dict[str, NewKey], claims: dict[str, Any]
) -> None:
    # Below the kid lookup too: the joserfc key is bound to RS256 and checks no PSS signature.
    rsa_key = key_for["RS256"]
    forger = Forger.from_pem(rsa_key.kid, rsa_key.pem)
    token = forger.sign_bytes({"alg": "PS256", "kid": rsa_key.kid}, b"{}", alg="PS256")
    public = load_public_jwk(rsa_key.public_jwk, "RS256")

    with pytest.raises(InvalidTokenError, match="^token signature is invalid$"):
        verify_signature(token, public, "PS256")


async def test_verify_hs256_token_keyed_with_the_rsa_public_key_is_refused_even_when_listed(
    key_for: dict[str, NewKey], claims: dict[str, Any]
) -> None:
    forger = Forger.from_pem(key_for["RS256"].kid, key_for["RS256"].pem)
    token = forger.hmac_with_public_key(claims)

    with pytest.raises(InvalidTokenError, match="^token algorithm is not allowed$"):
        await _decode(token, StaticKeys(key_for["RS256"]), algorithms=("RS256", "HS256"))
    with pytest.raises(InvalidTokenError, match="^token signature is invalid$"):
        verify_signature(token, load_public_jwk(key_for["RS256"].public_jwk, "RS256"), "HS256")


async def test_verify_alg_none_token_is_refused_even_when_listed(
    key_for: dict[str, NewKey], claims: dict[str, Any]
) -> None:
    forger = Forger.from_pem(key_for["RS256"].kid, key_for["RS256"].pem)

    with pytest.raises(InvalidTokenError, match="^token algorithm is not allowed$"):
        await _decode(forger.unsigned(claims), StaticKeys(key_for["RS256"]), ("RS256", "none"))


async def test_verify_eddsa_token_against_rsa_kid_is_refused(
    key_for: dict[str, NewKey], claims: dict[str, Any]
) -> None:
    token = _sign(claims, key_for["EdDSA"], kid=key_for["RS256"].kid)

    with pytest.raises(InvalidTokenError, match="^token algorithm does not match its key$"):
        await _decode(token, StaticKeys(key_for["RS256"]), algorithms=("RS256", "EdDSA"))


def test_sign_with_a_key_loaded_for_another_algorithm_is_refused(
    key_for: dict[str, NewKey], claims: dict[str, Any]
) -> None:
    rs256_key = load_private_key(key_for["RS256"].pem, "RS256")

    with pytest.raises(UnsupportedKeyAlgorithmError, match="'RS256'"):
        sign(claims, rs256_key, kid=key_for["RS256"].kid, alg="PS256", typ="at+jwt")


# --- loading keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jwk_of", "alg"),
    [("RS256", "PS256"), ("RS256", "EdDSA"), ("ES256", "RS256"), ("EdDSA", "ES256")],
)
def test_load_public_jwk_of_another_algorithm_is_refused(
    key_for: dict[str, NewKey], jwk_of: str, alg: str
) -> None:
    with pytest.raises(ValueError, match=f"^the JWK is not a key for {alg}$"):
        load_public_jwk(key_for[jwk_of].public_jwk, alg)


def test_load_public_jwk_with_private_members_is_refused(key_for: dict[str, NewKey]) -> None:
    private = load_private_key(key_for["EdDSA"].pem, "EdDSA").as_dict(private=True)

    with pytest.raises(ValueError, match="verification key only its public"):
        load_public_jwk(private, "EdDSA")


@pytest.mark.parametrize(
    ("private_key", "alg", "message"),
    [
        (ed448.Ed448PrivateKey.generate(), "EdDSA", "^EdDSA keys must be Ed25519$"),
        (ec.generate_private_key(ec.SECP384R1()), "ES256", "^not a key for ES256$"),
        (ec.generate_private_key(ec.SECP256R1()), "HS256", "^unsupported signing algorithm HS256$"),
    ],
    ids=["ed448-for-eddsa", "p384-for-es256", "hs256"],
)
def test_load_private_key_that_cannot_serve_the_algorithm_is_refused(
    private_key: ed448.Ed448PrivateKey | ec.EllipticCurvePrivateKey, alg: str, message: str
) -> None:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    with pytest.raises(ValueError, match=message):
        load_private_key(pem, alg)
