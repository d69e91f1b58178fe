"""Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): signed tokens
bound to one account, stateless, several accounts per browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth_service.security.device_cookies import MAX_ACCOUNTS, DeviceCookies
from auth_service.security.secret_box import SecretBox

NOW = 1_800_000_000
YEAR = 365 * 86400


@pytest.fixture
def cookies() -> DeviceCookies:
    return DeviceCookies(b"k" * 32, max_age=YEAR)


def test_device_cookie_issued_for_an_account_is_honoured_for_it_only(
    cookies: DeviceCookies,
) -> None:
    value = cookies.issue(None, "user-a", NOW)

    device = cookies.device_id(value, "user-a", NOW + 10)

    assert device is not None and len(device) >= 22  # 128 random bits
    assert cookies.device_id(value, "user-b", NOW + 10) is None


def test_device_cookie_expires_after_its_max_age(cookies: DeviceCookies) -> None:
    value = cookies.issue(None, "user-a", NOW)

    assert cookies.device_id(value, "user-a", NOW + YEAR - 1) is not None
    assert cookies.device_id(value, "user-a", NOW + YEAR) is None
    assert cookies.device_id(value, "user-a", NOW - 1) is None  # issued in the future


def test_device_cookie_under_another_key_or_altered_is_refused(cookies: DeviceCookies) -> None:
    value = cookies.issue(None, "user-a", NOW)
    issued_at, nonce, mac = value.split(".")
    other_key = DeviceCookies(b"x" * 32, max_age=YEAR)

    assert other_key.device_id(value, "user-a", NOW) is None
    assert cookies.device_id(f"{issued_at}.{nonce}x.{mac}", "user-a", NOW) is None
    assert cookies.device_id(f"{int(issued_at) + 1}.{nonce}.{mac}", "user-a", NOW) is None
    for junk in ("", "a.b", "x.y.z", "1.2.3.4", "~~~", "9" * 600):
        assert cookies.device_id(junk, "user-a", NOW) is None


def test_device_cookie_keeps_the_other_accounts_of_the_browser(cookies: DeviceCookies) -> None:
    value = cookies.issue(None, "user-a", NOW)
    value = cookies.issue(value, "user-b", NOW + 1)
    first_b = cookies.device_id(value, "user-b", NOW + 2)

    value = cookies.issue(value, "user-b", NOW + 3)

    assert cookies.device_id(value, "user-a", NOW + 4) is not None
    new_b = cookies.device_id(value, "user-b", NOW + 4)
    assert new_b is not None and new_b != first_b  # a fresh token replaces the account's old one
    assert len(value.split("~")) == 2


def test_device_cookie_holds_at_most_the_last_accounts(cookies: DeviceCookies) -> None:
    value = None
    for n in range(MAX_ACCOUNTS + 2):
        value = cookies.issue(value, f"user-{n}", NOW + n)
    assert value is not None

    assert len(value.split("~")) == MAX_ACCOUNTS
    assert cookies.device_id(value, f"user-{MAX_ACCOUNTS + 1}", NOW + 10) is not None
    assert cookies.device_id(value, "user-0", NOW + 10) is None


def test_device_cookie_key_is_derived_from_the_key_directory_per_purpose(tmp_path: Path) -> None:
    box = SecretBox.load_or_create(tmp_path)

    # Every instance reading the same key directory honours the others' cookies.
    assert SecretBox.load_or_create(tmp_path).derive_key("device cookies") == box.derive_key(
        "device cookies"
    )
    assert box.derive_key("device cookies") != box.derive_key("something else")
    assert len(box.derive_key("device cookies")) == 32


@pytest.mark.parametrize("head", ["²", "¹²³", "1" * 13, "-5", "", " 5"])
def test_device_cookie_with_a_timestamp_that_is_not_ascii_digits_is_ignored(
    cookies: DeviceCookies, head: str
) -> None:
    forged = f"{head}.nonce.mac"

    assert cookies.device_id(forged, "user-a", NOW) is None
    renewed = cookies.issue(forged, "user-a", NOW)
    assert forged not in renewed.split("~")
    assert cookies.device_id(renewed, "user-a", NOW) is not None
