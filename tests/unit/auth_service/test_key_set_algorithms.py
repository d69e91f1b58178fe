"""A key per algorithm (RFC 7517 §4.4): the KeySet's signer for each algorithm, and which algorithm
the minter picks for a client (OIDC Registration §2 id_token_signed_response_alg)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auth_service.oauth.tokens import TokenMinter, TokenPolicy
from auth_service.security.keys import (
    KeySet,
    NewKey,
    NoSigningKeyError,
    new_signing_key,
    write_private_key,
)
from shared.models import Client
from shared.tokens import SIGNATURE_ALGORITHMS, load_public_jwk, verify_signature

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Record:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    activates_at: datetime
    retires_at: datetime | None = None


@pytest.fixture(scope="module")
def keys() -> dict[str, NewKey]:
    return {alg: new_signing_key(alg) for alg in SIGNATURE_ALGORITHMS}


def key_set(tmp_path: Path, keys: dict[str, NewKey], *extra: tuple[NewKey, datetime]) -> KeySet:
    records = []
    for key, activates_at in [*((k, NOW - timedelta(days=1)) for k in keys.values()), *extra]:
        write_private_key(tmp_path, key.kid, key.pem)
        records.append(Record(key.kid, key.alg, key.public_jwk, activates_at))
    return KeySet.load(records, tmp_path)


def test_key_set_signer_per_algorithm_is_that_algorithms_key(
    tmp_path: Path, keys: dict[str, NewKey]
) -> None:
    loaded = key_set(tmp_path, keys)

    assert {alg: loaded.signing_key(NOW, alg).kid for alg in SIGNATURE_ALGORITHMS} == {
        alg: key.kid for alg, key in keys.items()
    }
    assert {k["alg"] for k in loaded.jwks(NOW)["keys"]} == set(SIGNATURE_ALGORITHMS)


def test_key_set_newer_key_of_one_algorithm_changes_only_that_signer(
    tmp_path: Path, keys: dict[str, NewKey]
) -> None:
    newer = new_signing_key("ES256")
    loaded = key_set(tmp_path, keys, (newer, NOW - timedelta(minutes=1)))

    assert loaded.signing_key(NOW, "ES256").kid == newer.kid
    assert loaded.signing_key(NOW, "EdDSA").kid == keys["EdDSA"].kid
    assert loaded.signing_key(NOW, "RS256").kid == keys["RS256"].kid


def test_key_set_algorithm_without_a_key_cannot_sign(
    tmp_path: Path, keys: dict[str, NewKey]
) -> None:
    loaded = key_set(tmp_path, {"RS256": keys["RS256"]})

    with pytest.raises(NoSigningKeyError, match="no active PS256 key"):
        loaded.signing_key(NOW, "PS256")


def _minter(tmp_path: Path, keys: dict[str, NewKey], held: tuple[str, ...]) -> TokenMinter:
    policy = TokenPolicy(
        issuer="https://issuer.example",
        audience="https://api.example",
        access_token_ttl=900,
        id_token_ttl=3600,
        refresh_token_ttl=86400,
        refresh_token_idle_ttl=86400,
        signing_alg="ES256",
        signing_algs=held,
    )
    loaded = key_set(tmp_path, {alg: keys[alg] for alg in held})
    return TokenMinter(policy, lambda: loaded)


@pytest.mark.parametrize(
    ("chosen", "held", "expected"),
    [
        ("PS256", SIGNATURE_ALGORITHMS, "PS256"),
        ("EdDSA", SIGNATURE_ALGORITHMS, "EdDSA"),
        (None, SIGNATURE_ALGORITHMS, "ES256"),  # no choice: AUTH_SIGNING_ALG
        ("EdDSA", ("RS256", "ES256"), "ES256"),  # a choice no longer held: AUTH_SIGNING_ALG
    ],
)
def test_minter_signs_both_tokens_with_the_clients_choice_or_the_default(
    tmp_path: Path,
    keys: dict[str, NewKey],
    chosen: str | None,
    held: tuple[str, ...],
    expected: str,
) -> None:
    minter = _minter(tmp_path, keys, held)
    client = Client(client_id="c1", name="C", id_token_signed_response_alg=chosen)

    access = minter.access_token(
        now=NOW,
        sub="u1",
        client=client,
        scopes=frozenset({"openid"}),
        grant_id=None,
        auth_time=None,
    )
    id_token = minter.id_token(
        now=NOW,
        sub="u1",
        client_id="c1",
        auth_time=NOW,
        nonce=None,
        access_token=access,
        alg=minter.signing_alg(client),
    )

    public = load_public_jwk(keys[expected].public_jwk, expected)
    assert verify_signature(access, public, expected)["client_id"] == "c1"
    assert verify_signature(id_token, public, expected)["aud"] == "c1"
