"""PKCE S256 (RFC 7636 §4.6; Appendix B test vector)."""

from __future__ import annotations

import pytest

from auth_service.security import pkce

RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    assert pkce.s256_challenge(RFC_VERIFIER) == RFC_CHALLENGE
    assert pkce.verifier_matches(RFC_VERIFIER, RFC_CHALLENGE, "S256")


def test_pkce_plain_method_never_matches_even_when_equal() -> None:
    assert not pkce.verifier_matches(RFC_VERIFIER, RFC_VERIFIER, "plain")


def test_pkce_wrong_verifier_does_not_match() -> None:
    assert not pkce.verifier_matches(RFC_VERIFIER[:-1] + "A", RFC_CHALLENGE, "S256")


@pytest.mark.parametrize("verifier", ["short", "a" * 129, "a" * 42 + "!", "a" * 42 + " "])
def test_pkce_malformed_verifier_is_invalid(verifier: str) -> None:
    assert not pkce.is_valid_verifier(verifier)
    assert not pkce.verifier_matches(verifier, pkce.s256_challenge("x" * 43), "S256")


@pytest.mark.parametrize("challenge", ["", "a" * 42, "a" * 44, "a" * 42 + "=", "a" * 42 + "+"])
def test_pkce_malformed_challenge_is_invalid(challenge: str) -> None:
    assert not pkce.is_valid_challenge(challenge)
