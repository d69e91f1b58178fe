"""The grant registry: `/oauth/token` dispatch and discovery's `grant_types_supported` read it."""

from __future__ import annotations

from collections.abc import Mapping

from auth_service.oauth.grants.authorization_code import AuthorizationCodeGrant
from auth_service.oauth.grants.base import Grant
from auth_service.oauth.grants.client_credentials import ClientCredentialsGrant
from auth_service.oauth.grants.password import PasswordGrant
from auth_service.oauth.grants.refresh_token import RefreshTokenGrant
from shared.errors import UnsupportedGrantTypeError

GRANTS: Mapping[str, Grant] = {
    grant.grant_type: grant
    for grant in (
        AuthorizationCodeGrant(),
        RefreshTokenGrant(),
        ClientCredentialsGrant(),
        PasswordGrant(),
    )
}


def get_grant(grant_type: str) -> Grant:
    grant = GRANTS.get(grant_type)
    if grant is None:
        raise UnsupportedGrantTypeError(f"grant_type {grant_type[:50]!r} is not supported")
    return grant
