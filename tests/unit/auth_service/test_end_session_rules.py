"""When RP-initiated logout redirects, and when it signs out without asking
(OpenID Connect RP-Initiated Logout 1.0 §2-§3; RFC 9700 §4.11.2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auth_service.oauth.end_session import (
    LogoutRequest,
    allows_redirect,
    allows_silent_logout,
    proves_session,
)
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
    registered: Client | None,
    *,
    uri: str | None = URI,
    hinted_sub: str | None = None,
    expired: bool = False,
) -> LogoutRequest:
    return LogoutRequest(registered, uri, "state-1", hinted_sub, expired)


OPERATOR_CLIENT = client()
PORTAL_CLIENT = client(owner_id="developer-1")
DYNAMIC_CLIENT = client(registration_token_hash="0" * 64)
SELF_REGISTERED = pytest.mark.parametrize(
    "registered", [PORTAL_CLIENT, DYNAMIC_CLIENT], ids=["portal", "dynamic"]
)


@pytest.mark.parametrize("ended", [None, "user-1"], ids=["no-session", "session"])
def test_end_session_vetted_client_with_registered_uri_is_redirected(ended: str | None) -> None:
    assert allows_redirect(logout(OPERATOR_CLIENT), ended) is True


@SELF_REGISTERED
def test_end_session_self_registered_client_hint_of_the_ended_session_is_redirected(
    registered: Client,
) -> None:
    assert allows_redirect(logout(registered, hinted_sub="user-1"), "user-1") is True


@SELF_REGISTERED
@pytest.mark.parametrize(
    ("hinted_sub", "expired", "ended"),
    [
        ("attacker", False, "victim"),  # the attacker's own ID token, someone else's session
        ("attacker", False, None),  # a visitor who is not signed in
        ("user-1", True, "user-1"),  # expired: it no longer vouches for this session
        (None, False, "user-1"),  # a bare client_id
    ],
    ids=["someone-elses-token", "no-session", "expired-hint", "bare-client-id"],
)
def test_end_session_self_registered_client_without_proof_of_the_session_is_not_redirected(
    registered: Client, hinted_sub: str | None, expired: bool, ended: str | None
) -> None:
    assert allows_redirect(logout(registered, hinted_sub=hinted_sub, expired=expired), ended) is (
        False
    )


def test_end_session_without_post_logout_redirect_uri_is_not_redirected() -> None:
    assert allows_redirect(logout(OPERATOR_CLIENT, uri=None, hinted_sub="u"), "u") is False


def test_end_session_without_client_is_not_redirected() -> None:
    assert allows_redirect(logout(None, uri=None), None) is False


def test_end_session_hint_naming_the_signed_in_user_signs_out_silently() -> None:
    assert allows_silent_logout(logout(OPERATOR_CLIENT, hinted_sub="user-1"), "user-1") is True


@pytest.mark.parametrize(
    ("hinted_sub", "expired"),
    [(None, False), ("user-2", False), ("user-1", True)],
    ids=["no-hint", "other-user", "expired-hint"],
)
def test_end_session_without_proof_for_the_signed_in_user_asks_first(
    hinted_sub: str | None, expired: bool
) -> None:
    request = logout(OPERATOR_CLIENT, hinted_sub=hinted_sub, expired=expired)

    assert allows_silent_logout(request, "user-1") is False
    assert proves_session(request, "user-1") is False
