"""Scope strings (RFC 6749 §3.3) and the catalogue."""

from __future__ import annotations

import pytest

from shared.errors import InvalidScopeError
from shared.scopes import SCOPES, describe, format_scope, parse_scope


def test_scopes_parse_splits_on_single_spaces() -> None:
    assert parse_scope("openid profile read:notes") == {"openid", "profile", "read:notes"}
    assert parse_scope(None) == frozenset() == parse_scope("")


@pytest.mark.parametrize(
    "scope", ["openid  profile", " openid", "openid\tprofile", 'a"b', "a\\b", "é"]
)
def test_scopes_parse_refuses_bad_syntax(scope: str) -> None:
    with pytest.raises(InvalidScopeError):
        parse_scope(scope)


def test_scopes_format_is_canonical_catalogue_order() -> None:
    assert format_scope({"write:notes", "openid", "zzz", "email"}) == "openid email write:notes zzz"


def test_scopes_catalogue_has_the_required_scopes_with_plain_words() -> None:
    assert {"openid", "profile", "email", "read:notes", "write:notes"} <= SCOPES.keys()
    assert all(len(scope.description.split()) >= 3 for scope in SCOPES.values())
    assert [s.name for s in describe({"email", "openid"})] == ["openid", "email"]
