"""Signing keys: RFC 7638 kids, 0600 key files, and the KeySet's schedule."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from auth_service.security.keys import (
    KeySet,
    NoSigningKeyError,
    new_signing_key,
    write_private_key,
)
from shared.tokens import jwk_thumbprint

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Record:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    activates_at: datetime
    retires_at: datetime | None = None


def test_keys_thumbprint_matches_rfc_7638_example() -> None:
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQ"
        "MicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRw"
        "r3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_keys_thumbprint_of_ed25519_key_matches_rfc_8037_example() -> None:
    # RFC 8037 §A.3: OKP keys are thumbprinted over crv, kty and x.
    jwk = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "alg": "EdDSA",
        "use": "sig",
    }
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize(
    ("alg", "members", "crv"),
    [
        ("RS256", {"kty", "n", "e"}, None),
        ("PS256", {"kty", "n", "e"}, None),
        ("ES256", {"kty", "crv", "x", "y"}, "P-256"),
        ("EdDSA", {"kty", "crv", "x"}, "Ed25519"),
    ],
)
def test_keys_new_signing_key_publishes_only_public_members_with_thumbprint_kid(
    alg: str, members: set[str], crv: str | None
) -> None:
    key = new_signing_key(alg)

    assert set(key.public_jwk) == members | {"alg", "kid", "use"}
    assert key.public_jwk.get("crv") == crv
    assert key.public_jwk["alg"] == alg
    assert key.kid == jwk_thumbprint(key.public_jwk)


def test_keys_new_rsa_signing_key_is_2048_bits() -> None:
    public = serialization.load_pem_private_key(new_signing_key("PS256").pem, None).public_key()

    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048


def test_keys_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="^unsupported signing algorithm HS256$"):
        new_signing_key("HS256")


def test_keys_private_key_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    key = new_signing_key("ES256")
    path = write_private_key(tmp_path / "keys", key.kid, key.pem)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    with pytest.raises(FileExistsError):
        write_private_key(tmp_path / "keys", key.kid, key.pem)


def test_keys_public_jwk_holds_no_private_members() -> None:
    key = new_signing_key("RS256")
    assert set(key.public_jwk) == {"kty", "n", "e", "alg", "kid", "use"}
    assert key.kid == jwk_thumbprint(key.public_jwk)


def test_keys_keyset_signs_with_newest_active_key_and_publishes_scheduled_ones(
    tmp_path: Path,
) -> None:
    old, new = new_signing_key("ES256"), new_signing_key("ES256")
    for key in (old, new):
        write_private_key(tmp_path, key.kid, key.pem)
    records = [
        Record(old.kid, "ES256", old.public_jwk, NOW - timedelta(days=1), NOW + timedelta(hours=1)),
        Record(new.kid, "ES256", new.public_jwk, NOW + timedelta(minutes=10)),
    ]
    key_set = KeySet.load(records, tmp_path)
    assert key_set.signing_key(NOW).kid == old.kid  # the new key is published but not yet signing
    assert {k["kid"] for k in key_set.jwks(NOW)["keys"]} == {old.kid, new.kid}
    later = NOW + timedelta(minutes=30)
    assert key_set.signing_key(later).kid == new.kid
    assert {k["kid"] for k in key_set.jwks(NOW + timedelta(hours=2))["keys"]} == {new.kid}
    assert key_set.verification_key(old.kid, NOW + timedelta(hours=2)) is None


def test_keys_keyset_without_private_material_cannot_sign(tmp_path: Path) -> None:
    key = new_signing_key("ES256")
    key_set = KeySet.load([Record(key.kid, "ES256", key.public_jwk, NOW)], tmp_path)
    with pytest.raises(NoSigningKeyError):
        key_set.signing_key(NOW)
    assert key_set.jwks(NOW)["keys"][0]["kid"] == key.kid
