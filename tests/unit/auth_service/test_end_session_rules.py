"""When RP-initiated logout redirects, and when it signs out without asking
(OpenID Connect RP-Initiated Logout 1.0 §2-§3; RFC 9700 §4.11.2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auth_service.oauth.end_session import LogoutRequest, allows_redirect, allows_silent_logout
from shared.models import Client

NOW = datetime(2030, 1, 1, tzinfo=UTC)
URI = "https://client.example/signed-out"


def client(*, owner_id: str | None = None, registration_token_hash: str | None = None) -> Client:
    return Client(
        client_id="client-1",
        name="Client",
        post_logout_redirect_uris=[URI],
        owner_id=owner_id,
        registration_access_token_hash=registration_token_hash,
        created_at=NOW,
        updated_at=NOW,
    )


def logout(
    registered: Client | None, *, uri: str | None = URI, hinted_sub: str | None = None
) -> LogoutRequest:
    return LogoutRequest(registered, uri, "state-1", hinted_sub)


OPERATOR_CLIENT = client()
PORTAL_CLIENT = client(owner_id="developer-1")
DYNAMIC_CLIENT = client(registration_token_hash="0" * 64)


def test_end_session_vetted_client_with_registered_uri_is_redirected() -> None:
    assert allows_redirect(logout(OPERATOR_CLIENT)) is True


@pytest.mark.parametrize("registered", [PORTAL_CLIENT, DYNAMIC_CLIENT], ids=["portal", "dynamic"])
def test_end_session_self_registered_client_with_id_token_hint_is_redirected(
    registered: Client,
) -> None:
    assert allows_redirect(logout(registered, hinted_sub="user-1")) is True


@pytest.mark.parametrize("registered", [PORTAL_CLIENT, DYNAMIC_CLIENT], ids=["portal", "dynamic"])
def test_end_session_self_registered_client_with_bare_client_id_is_not_redirected(
    registered: Client,
) -> None:
    assert allows_redirect(logout(registered)) is False


def test_end_session_without_post_logout_redirect_uri_is_not_redirected() -> None:
    assert allows_redirect(logout(OPERATOR_CLIENT, uri=None, hinted_sub="user-1")) is False


def test_end_session_without_client_is_not_redirected() -> None:
    assert allows_redirect(logout(None, uri=None)) is False


def test_end_session_hint_naming_the_signed_in_user_signs_out_silently() -> None:
    assert allows_silent_logout(logout(OPERATOR_CLIENT, hinted_sub="user-1"), "user-1") is True


@pytest.mark.parametrize("hinted_sub", [None, "user-2"], ids=["no-hint", "other-user"])
def test_end_session_without_hint_for_the_signed_in_user_asks_first(
    hinted_sub: str | None,
) -> None:
    assert allows_silent_logout(logout(OPERATOR_CLIENT, hinted_sub=hinted_sub), "user-1") is False
