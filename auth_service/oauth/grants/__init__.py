"""The grant registry: the one list of grant types (RFC 6749 §4), and what is derived from it.

`/oauth/token` dispatches on it; client registration, RFC 7591 registration, the developer portal
and discovery read the grant classes' declarations through the functions below. Adding a grant
type is one module and one line in `GRANTS`.
"""

from __future__ import annotations

from collections.abc import Mapping

from auth_service.oauth.grants.authorization_code import AuthorizationCodeGrant
from auth_service.oauth.grants.base import GrantServices, GrantType
from auth_service.oauth.grants.client_credentials import ClientCredentialsGrant
from auth_service.oauth.grants.device_code import DeviceCodeGrant
from auth_service.oauth.grants.password import PasswordGrant
from auth_service.oauth.grants.refresh_token import RefreshTokenGrant
from auth_service.oauth.grants.token_exchange import TokenExchangeGrant
from shared.errors import UnsupportedGrantTypeError

GRANTS: Mapping[str, type[GrantType]] = {
    grant.grant_type: grant
    for grant in (
        AuthorizationCodeGrant,
        RefreshTokenGrant,
        ClientCredentialsGrant,
        PasswordGrant,
        DeviceCodeGrant,
        TokenExchangeGrant,
    )
}


def grant_types(*, dynamic_registration: bool | None = None) -> tuple[str, ...]:
    """Registered grant types, in registry order; optionally only those RFC 7591 clients may
    ask for (`dynamic_registration=True`)."""
    return tuple(
        name
        for name, grant in GRANTS.items()
        if dynamic_registration is None or grant.dynamic_registration == dynamic_registration
    )


def browser_app_grant_types() -> tuple[str, ...]:
    """What the developer portal gives the browser apps it registers: the self-registrable
    grants that act for a user."""
    return tuple(
        name
        for name, grant in GRANTS.items()
        if grant.dynamic_registration and grant.acts_for_user and grant.for_browser_apps
    )


def response_types() -> dict[str, str]:
    """response_type -> the grant it starts (RFC 7591 §2.1, RFC 8414 §2)."""
    return {
        grant.response_type: name
        for name, grant in GRANTS.items()
        if grant.response_type is not None
    }


def build_grants(services: GrantServices) -> Mapping[str, GrantType]:
    """Each grant as the app runs it, built once at start-up."""
    return {name: grant.build(services) for name, grant in GRANTS.items()}


def get_grant(grants: Mapping[str, GrantType], grant_type: str) -> GrantType:
    """The grant for a `grant_type`; RFC 6749 §5.2 `unsupported_grant_type` when there is none."""
    grant = grants.get(grant_type)
    if grant is None:
        # Not repr(): it would add backslashes; OAuthError reduces the rest (RFC 6749 §5.2).
        raise UnsupportedGrantTypeError(f"grant_type '{grant_type[:50]}' is not supported")
    return grant
