"""AUTH_SIGNING_ALGS and AUTH_SIGNING_ALG (README "Signing algorithms"): asymmetric algorithms we
can hold a key for only (RFC 8725 §3.1), the default among them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from auth_service.config import AuthSettings


def _auth(monkeypatch: pytest.MonkeyPatch, **env: str) -> AuthSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return AuthSettings(_env_file=None)  # type: ignore[call-arg]


def test_config_default_holds_all_four_algorithms_and_signs_rs256(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _auth(monkeypatch)

    assert settings.signing_algs == ("RS256", "PS256", "ES256", "EdDSA")
    assert settings.signing_alg == "RS256"


def test_config_signing_algs_is_a_comma_separated_list_without_duplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _auth(
        monkeypatch, AUTH_SIGNING_ALGS=" ES256, EdDSA,ES256 ", AUTH_SIGNING_ALG="EdDSA"
    )

    assert settings.signing_algs == ("ES256", "EdDSA")
    assert settings.signing_alg == "EdDSA"


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512", "rs256"])
def test_config_signing_algs_refuses_algorithms_we_cannot_hold_a_key_for(
    monkeypatch: pytest.MonkeyPatch, alg: str
) -> None:
    with pytest.raises(ValidationError, match="signing_algs"):
        _auth(monkeypatch, AUTH_SIGNING_ALGS=f"RS256,{alg}")


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_config_signing_alg_refuses_none_and_hmac(
    monkeypatch: pytest.MonkeyPatch, alg: str
) -> None:
    with pytest.raises(ValidationError, match="signing_alg"):
        _auth(monkeypatch, AUTH_SIGNING_ALG=alg)


@pytest.mark.parametrize("held", ["ES256,EdDSA", ","])
def test_config_refuses_a_default_algorithm_that_is_not_held(
    monkeypatch: pytest.MonkeyPatch, held: str
) -> None:
    with pytest.raises(ValidationError, match="AUTH_SIGNING_ALG must be one of AUTH_SIGNING_ALGS"):
        _auth(monkeypatch, AUTH_SIGNING_ALGS=held)
