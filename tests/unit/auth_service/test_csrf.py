"""CSRF tokens bind browser key, purpose, session and pending request."""

from __future__ import annotations

from auth_service.security.csrf import csrf_token, csrf_token_matches


def test_csrf_token_matches_only_its_own_binding() -> None:
    token = csrf_token("browser-key", purpose="consent", session_hash="s1", request_id="r1")
    assert csrf_token_matches(
        token, "browser-key", purpose="consent", session_hash="s1", request_id="r1"
    )
    for kwargs in (
        {"purpose": "login", "session_hash": "s1", "request_id": "r1"},
        {"purpose": "consent", "session_hash": "s2", "request_id": "r1"},
        {"purpose": "consent", "session_hash": "s1", "request_id": "r2"},
        {"purpose": "consent", "session_hash": None, "request_id": "r1"},
    ):
        assert not csrf_token_matches(token, "browser-key", **kwargs)  # type: ignore[arg-type]
    assert not csrf_token_matches(
        token, "other-key", purpose="consent", session_hash="s1", request_id="r1"
    )
