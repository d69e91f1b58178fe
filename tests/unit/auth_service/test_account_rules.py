"""Account rules: email addresses in one Unicode form, invisible characters refused, password
length refused rather than cut (issue 13, part 7; Unicode UAX 15 NFKC)."""

from __future__ import annotations

import pytest

from auth_service.identity.accounts import account_problems, profile_problems
from auth_service.repositories.users import normalize_email
from auth_service.security.passwords import MAX_PASSWORD_LENGTH

INVALID_EMAIL = "Email address is not valid."


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ", "ada@example.com"),  # full-width forms
        ("ﬁnn@example.com", "finn@example.com"),  # the fi ligature
        ("  Ada@Example.COM ", "ada@example.com"),
    ],
    ids=["full-width", "ligature", "case-and-spaces"],
)
def test_email_is_stored_in_its_nfkc_lower_case_form(typed: str, stored: str) -> None:
    assert profile_problems(typed) is None
    assert normalize_email(typed) == stored


@pytest.mark.parametrize(
    "email",
    [
        "ada\u200b@example.com",  # zero-width space
        "ad\u200da@example.com",  # zero-width joiner
        "ada@exam\u00adple.com",  # soft hyphen
        "\u202eada@example.com",  # right-to-left override
        "ada\ufeff@example.com",  # byte order mark
        "ada\x00@example.com",  # a control character
    ],
    ids=["zwsp", "zwj", "soft-hyphen", "rlo", "bom", "nul"],
)
def test_email_with_an_invisible_character_is_refused(email: str) -> None:
    assert profile_problems(email) == INVALID_EMAIL


def test_email_longer_than_254_after_normalising_is_refused() -> None:
    assert profile_problems("a" * 60 + "@" + "b" * 190 + ".com") == INVALID_EMAIL


def test_password_over_the_limit_is_refused_not_cut() -> None:
    too_long = "x" * (MAX_PASSWORD_LENGTH + 1)
    assert account_problems("grace", "grace@example.com", too_long) == [
        f"Password must be at most {MAX_PASSWORD_LENGTH} characters."
    ]
    assert account_problems("grace", "grace@example.com", "x" * MAX_PASSWORD_LENGTH) == []
