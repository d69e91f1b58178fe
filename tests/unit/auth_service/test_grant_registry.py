"""The grant registry is the only list of grant types; everything else is derived from it."""

from __future__ import annotations

from typing import ClassVar

import pytest

from auth_service.clients.registry import (
    DEFAULT_GRANT_TYPES,
    ClientMetadataError,
    ClientSpec,
    validate_client_spec,
)
from auth_service.oauth import grants
from auth_service.oauth.discovery import provider_metadata
from auth_service.oauth.grants.base import GrantContext, GrantType
from auth_service.oauth.registration import spec_from_metadata
from auth_service.oauth.requests import TokenRequest
from shared.errors import InvalidClientMetadataError, UnsupportedGrantTypeError
from shared.models import Client
from shared.schemas import TokenResponse
from shared.scopes import SCOPES
from tests.factories import REDIRECT_URI

EXAMPLE_GRANT = "urn:example:params:oauth:grant-type:example"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


class ExampleGrant(GrantType):
    """A grant type a later issue might add: acts for nobody, not self-registrable."""

    grant_type: ClassVar[str] = EXAMPLE_GRANT
    dynamic_registration: ClassVar[bool] = False
    acts_for_user: ClassVar[bool] = False

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        raise NotImplementedError


@pytest.fixture
def example_grant_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """One line in the registry, as the README's "Adding a grant" guide says."""
    monkeypatch.setitem(grants.GRANTS, EXAMPLE_GRANT, ExampleGrant)  # type: ignore[index]


def metadata(**overrides: object) -> dict[str, object]:
    return {"redirect_uris": [REDIRECT_URI], **overrides}


def test_grant_registry_lists_grant_types_in_registry_order() -> None:
    assert grants.grant_types() == (
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "password",
        DEVICE_CODE,
        TOKEN_EXCHANGE,
    )


def test_grant_registry_dynamic_registration_excludes_password_and_token_exchange() -> None:
    assert grants.grant_types(dynamic_registration=True) == (
        "authorization_code",
        "refresh_token",
        "client_credentials",
        DEVICE_CODE,
    )
    assert grants.grant_types(dynamic_registration=False) == ("password", TOKEN_EXCHANGE)


def test_grant_registry_browser_apps_get_the_user_grants_anyone_may_register() -> None:
    # Not the device grant (RFC 8628): only apps that ask for it (CLI, RFC 7591) get it.
    assert grants.browser_app_grant_types() == ("authorization_code", "refresh_token")
    assert DEFAULT_GRANT_TYPES == ("authorization_code", "refresh_token")


def test_grant_registry_response_types_map_code_to_authorization_code() -> None:
    assert grants.response_types() == {"code": "authorization_code"}


def test_grant_registry_declarations_of_each_grant() -> None:
    declared = {
        name: (g.dynamic_registration, g.acts_for_user, g.issues_refresh_token, g.first_party_only)
        for name, g in grants.GRANTS.items()
    }
    assert declared == {
        "authorization_code": (True, True, True, False),
        "refresh_token": (True, True, True, False),
        "client_credentials": (True, False, False, False),
        "password": (False, True, True, True),
        DEVICE_CODE: (True, True, True, False),
        # RFC 8693 §5: operator-granted, confidential clients only, no refresh token.
        TOKEN_EXCHANGE: (False, False, False, False),
    }


def test_discovery_lists_what_the_registry_holds() -> None:
    document = provider_metadata(
        "https://issuer.example",
        grant_types=grants.grant_types(),
        response_types=grants.response_types(),
        scopes=SCOPES,
        signing_algs=("RS256",),
        registration_enabled=True,
    )
    assert document["grant_types_supported"] == sorted(grants.GRANTS)
    assert document["response_types_supported"] == ["code"]


def test_get_grant_unknown_grant_type_is_unsupported_grant_type() -> None:
    with pytest.raises(UnsupportedGrantTypeError) as raised:
        grants.get_grant({}, "urn:example:unknown")
    assert raised.value.description == "grant_type 'urn:example:unknown' is not supported"


@pytest.mark.usefixtures("example_grant_registered")
def test_added_grant_is_registrable_by_operators_and_listed() -> None:
    assert grants.grant_types()[-1] == EXAMPLE_GRANT
    validate_client_spec(
        ClientSpec(
            name="Machine", redirect_uris=[], scope="read:notes", grant_types=[EXAMPLE_GRANT]
        )
    )


@pytest.mark.usefixtures("example_grant_registered")
def test_added_grant_acting_for_nobody_is_refused_to_public_clients() -> None:
    spec = ClientSpec(
        name="SPA",
        redirect_uris=[],
        scope="read:notes",
        grant_types=[EXAMPLE_GRANT],
        is_public=True,
    )
    with pytest.raises(ClientMetadataError) as raised:
        validate_client_spec(spec)
    assert str(raised.value) == f"a public client cannot use {EXAMPLE_GRANT} (RFC 6749 section 4.4)"


@pytest.mark.usefixtures("example_grant_registered")
def test_added_grant_not_open_to_dynamic_registration_is_refused_there() -> None:
    with pytest.raises(InvalidClientMetadataError) as raised:
        spec_from_metadata(metadata(grant_types=["authorization_code", EXAMPLE_GRANT]))
    assert raised.value.description == (
        f"grant_types may be authorization_code, refresh_token, client_credentials, {DEVICE_CODE}"
    )
