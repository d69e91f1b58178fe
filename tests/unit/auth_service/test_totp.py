"""TOTP verification (RFC 6238) and recovery codes, checked against pyotp as the reference."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from auth_service.security import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - test seed
NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
STEP = int(NOW.timestamp()) // 30


def code_at(step: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(step * 30)


# RFC 6238 Appendix B, SHA1 rows: (T in seconds, 8-digit TOTP). The key is the ASCII string
# "12345678901234567890". A 6-digit code is the same HOTP value mod 10^6 (RFC 4226 §5.3), so the
# last six digits of each row are what our 6-digit verifier must accept at that time.
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(("seconds", "expected"), RFC6238_SHA1)
def test_pyotp_reference_reproduces_rfc6238_appendix_b(seconds: int, expected: str) -> None:
    assert pyotp.TOTP(RFC_SECRET, digits=8).at(seconds) == expected


@pytest.mark.parametrize(("seconds", "expected"), RFC6238_SHA1)
def test_matching_step_accepts_rfc6238_vectors_truncated_to_six_digits(
    seconds: int, expected: str
) -> None:
    now = datetime.fromtimestamp(seconds, UTC)

    assert totp.matching_step(RFC_SECRET, expected[-6:], now, last_step=None) == seconds // 30


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_matching_step_accepts_current_and_adjacent_steps(offset: int) -> None:
    # RFC 6238 §5.2: one step either side for clock drift.
    assert totp.matching_step(SECRET, code_at(STEP + offset), NOW, last_step=None) == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_matching_step_rejects_steps_two_or_more_away(offset: int) -> None:
    code = code_at(STEP + offset)
    assert code not in {code_at(STEP + d) for d in (-1, 0, 1)}  # no accidental collision

    assert totp.matching_step(SECRET, code, NOW, last_step=None) is None


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_matching_step_rejects_a_used_step_as_replay(offset: int) -> None:
    code = code_at(STEP + offset)

    assert totp.matching_step(SECRET, code, NOW, last_step=STEP + offset) is None
    # A later step was used: an earlier code is a replay too.
    assert totp.matching_step(SECRET, code, NOW, last_step=STEP + 1) is None


def test_matching_step_accepts_a_step_after_the_last_used() -> None:
    assert totp.matching_step(SECRET, code_at(STEP), NOW, last_step=STEP - 1) == STEP
    assert totp.matching_step(SECRET, code_at(STEP + 1), NOW, last_step=STEP) == STEP + 1


def test_matching_step_rejects_code_for_another_secret() -> None:
    other = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # noqa: S105 - test seed
    code = code_at(STEP, other)
    # A fixed pair whose codes differ in the whole window (random ones collide 3 times in a million).
    assert code not in {code_at(STEP + d) for d in (-1, 0, 1)}

    assert totp.matching_step(SECRET, code, NOW, last_step=None) is None


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "abcdef", "12345a", "１２３４５６", "-12345", "12 34 5"]
)
def test_matching_step_rejects_malformed_codes(code: str) -> None:
    assert totp.matching_step(SECRET, code, NOW, last_step=None) is None


def test_matching_step_ignores_spaces_and_surrounding_whitespace() -> None:
    code = code_at(STEP)

    assert totp.matching_step(SECRET, f" {code[:3]} {code[3:]}\n", NOW, last_step=None) == STEP


def test_new_secret_is_160_bits_of_base32_and_fresh() -> None:
    secrets = {totp.new_secret() for _ in range(20)}

    assert len(secrets) == 20
    for secret in secrets:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert len(base64.b32decode(secret)) == 20


def test_provisioning_uri_names_issuer_account_and_secret() -> None:
    uri = totp.provisioning_uri(SECRET, "ada")

    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", "/MyAuthProvider:ada")
    query = parse_qs(parts.query)
    assert query["secret"] == [SECRET]
    assert query["issuer"] == ["MyAuthProvider"]


def test_qr_code_is_an_svg_data_uri() -> None:
    assert totp.qr_code_data_uri(totp.provisioning_uri(SECRET, "ada")).startswith(
        "data:image/svg+xml"
    )


def test_new_recovery_codes_are_ten_distinct_codes_of_three_groups() -> None:
    codes = totp.new_recovery_codes()

    assert len(codes) == totp.RECOVERY_CODES == 10
    assert len(set(codes)) == 10
    for code in codes:
        # 12 base32 characters: 60 bits each.
        assert re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", code), code


def test_new_recovery_codes_differ_between_calls() -> None:
    assert set(totp.new_recovery_codes()).isdisjoint(totp.new_recovery_codes())


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [("ABCD-EFGH-2345", "abcd-efgh-2345"), ("  abcd efgh 2345 ", "abcdefgh2345")],
)
def test_normalize_recovery_code_lowercases_and_drops_spaces(typed: str, normalized: str) -> None:
    assert totp.normalize_recovery_code(typed) == normalized
