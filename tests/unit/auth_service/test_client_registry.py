"""Client registration and update rules (RFC 7591 §2; RFC 6749 §4.4; RFC 9700 §2.4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from auth_service.clients.registry import (
    ClientChanges,
    ClientMetadataError,
    ClientSpec,
    new_client_id,
    update_client,
    validate_client_spec,
)
from auth_service.repositories import Repositories
from shared.models import Client
from tests.factories import REDIRECT_URI, TestClient, make_client
from tests.support.db import Database

DAY = 86400


def spec(**overrides: Any) -> ClientSpec:
    values: dict[str, Any] = {
        "name": "Test App",
        "redirect_uris": [REDIRECT_URI],
        "scope": "openid profile read:notes",
    }
    values.update(overrides)
    return ClientSpec(**values)


async def update(db: Database, client_id: str, **changes: Any) -> Client:
    """Apply `changes` in one unit of work, as `auth-service clients update` does."""

    async def work(repos: Repositories) -> Client:
        client = await repos.clients.get_by_client_id(client_id)
        assert client is not None
        return await update_client(repos, client, ClientChanges(**changes), now=datetime.now(UTC))

    return await db.run(work)


async def stored(db: Database, client: TestClient) -> Client:
    row = await db.get(Client, client.client_id)
    assert row is not None
    return row


def test_validate_client_spec_password_grant_without_first_party_is_refused() -> None:
    with pytest.raises(ClientMetadataError) as refused:
        validate_client_spec(spec(grant_types=["password"]))

    assert refused.value.field == "grant_types"
    assert str(refused.value) == (
        "the password grant is only for first-party clients (RFC 9700 section 2.4)"
    )


def test_validate_client_spec_password_grant_for_first_party_is_accepted() -> None:
    validate_client_spec(spec(grant_types=["password", "refresh_token"], is_first_party=True))


def test_validate_client_spec_public_client_with_client_credentials_is_refused() -> None:
    with pytest.raises(ClientMetadataError) as refused:
        validate_client_spec(spec(grant_types=["client_credentials"], is_public=True))

    assert refused.value.field == "grant_types"
    assert (
        str(refused.value) == "a public client cannot use client_credentials (RFC 6749 section 4.4)"
    )


def test_validate_client_spec_unknown_grant_type_is_refused() -> None:
    with pytest.raises(ClientMetadataError) as refused:
        validate_client_spec(spec(grant_types=["implicit"]))

    # RFC 9700 §2.1.2: no implicit grant, and nothing we do not know.
    assert (refused.value.field, str(refused.value)) == (
        "grant_types",
        "unknown grant type: implicit",
    )


def test_validate_client_spec_client_credentials_only_needs_no_redirect_uri() -> None:
    validate_client_spec(spec(grant_types=["client_credentials"], redirect_uris=[]))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("access_token_ttl", 29, "access token lifetime must be 30-86400 seconds"),
        ("access_token_ttl", DAY + 1, "access token lifetime must be 30-86400 seconds"),
        ("refresh_token_ttl", 59, "refresh token lifetime must be 60-31536000 seconds"),
        ("refresh_token_ttl", 365 * DAY + 1, "refresh token lifetime must be 60-31536000 seconds"),
    ],
)
def test_validate_client_spec_lifetime_out_of_bounds_is_refused(
    field: str, value: int, message: str
) -> None:
    with pytest.raises(ClientMetadataError) as refused:
        validate_client_spec(spec(**{field: value}))

    assert (refused.value.field, str(refused.value)) == (field, message)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("access_token_ttl", 30),
        ("access_token_ttl", DAY),
        ("refresh_token_ttl", 60),
        ("refresh_token_ttl", 365 * DAY),
    ],
)
def test_validate_client_spec_lifetime_at_bounds_is_accepted(field: str, value: int) -> None:
    validate_client_spec(spec(**{field: value}))


async def test_update_client_bad_redirect_uri_is_refused_and_nothing_saved(db: Database) -> None:
    client = await make_client(db)

    with pytest.raises(ClientMetadataError) as refused:
        await update(db, client.client_id, name="Renamed", redirect_uris=["http://evil.example/cb"])

    assert refused.value.field == "redirect_uris"
    assert str(refused.value) == (
        "http://evil.example/cb: http redirect URIs are allowed only for localhost, 127.0.0.1 "
        "and [::1] (RFC 8252 section 7.3)"
    )
    row = await stored(db, client)
    assert (row.name, row.redirect_uris) == ("Test App", [REDIRECT_URI])


@pytest.mark.parametrize("uri", ["https://client.example/cb#frag", "https://*.example/cb", "/cb"])
async def test_update_client_redirect_uri_breaking_registration_rules_is_refused(
    db: Database, uri: str
) -> None:
    client = await make_client(db)

    with pytest.raises(ClientMetadataError) as refused:
        await update(db, client.client_id, redirect_uris=[REDIRECT_URI, uri])

    assert refused.value.field == "redirect_uris"
    assert (await stored(db, client)).redirect_uris == [REDIRECT_URI]


async def test_update_client_removing_every_redirect_uri_with_code_grant_is_refused(
    db: Database,
) -> None:
    client = await make_client(db)

    with pytest.raises(ClientMetadataError) as refused:
        await update(db, client.client_id, redirect_uris=[])

    assert (refused.value.field, str(refused.value)) == (
        "redirect_uris",
        "at least one redirect URI is required",
    )


async def test_update_client_valid_changes_are_saved_and_others_kept(db: Database) -> None:
    client = await make_client(db, access_token_ttl=300)
    before = await stored(db, client)

    await update(
        db,
        client.client_id,
        name="  Renamed  ",
        redirect_uris=["https://client.example/new", "https://client.example/new"],
        scope="read:notes openid",
    )

    row = await stored(db, client)
    assert (row.name, row.redirect_uris, row.scope) == (
        "Renamed",
        ["https://client.example/new"],
        "openid read:notes",
    )
    assert (row.grant_types, row.access_token_ttl, row.is_first_party) == (
        before.grant_types,
        300,
        False,
    )
    assert row.updated_at > before.updated_at


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("access_token_ttl", 29),
        ("access_token_ttl", DAY + 1),
        ("access_token_ttl", -1),
        ("refresh_token_ttl", 59),
        ("refresh_token_ttl", 365 * DAY + 1),
    ],
)
async def test_update_client_lifetime_out_of_bounds_is_refused(
    db: Database, field: str, value: int
) -> None:
    client = await make_client(db, access_token_ttl=300, refresh_token_ttl=3600)

    with pytest.raises(ClientMetadataError) as refused:
        await update(db, client.client_id, **{field: value})

    assert refused.value.field == field
    row = await stored(db, client)
    assert (row.access_token_ttl, row.refresh_token_ttl) == (300, 3600)


async def test_update_client_lifetimes_within_bounds_are_saved(db: Database) -> None:
    client = await make_client(db)

    await update(db, client.client_id, access_token_ttl=30, refresh_token_ttl=365 * DAY)

    row = await stored(db, client)
    assert (row.access_token_ttl, row.refresh_token_ttl) == (30, 365 * DAY)


async def test_update_client_zero_lifetime_resets_to_default(db: Database) -> None:
    client = await make_client(db, access_token_ttl=300, refresh_token_ttl=3600)

    await update(db, client.client_id, access_token_ttl=0, refresh_token_ttl=0)

    row = await stored(db, client)
    assert (row.access_token_ttl, row.refresh_token_ttl) == (None, None)


async def test_update_client_password_grant_for_third_party_is_refused(db: Database) -> None:
    client = await make_client(db)

    with pytest.raises(ClientMetadataError) as refused:
        await update(db, client.client_id, grant_types=["password", "refresh_token"])

    assert refused.value.field == "grant_types"
    assert (await stored(db, client)).grant_types == ["authorization_code", "refresh_token"]


async def test_update_client_password_grant_with_first_party_is_saved(db: Database) -> None:
    client = await make_client(db)

    await update(
        db, client.client_id, is_first_party=True, grant_types=["password", "refresh_token"]
    )

    row = await stored(db, client)
    assert (row.is_first_party, row.grant_types) == (True, ["password", "refresh_token"])


async def test_update_client_demoting_password_client_to_third_party_is_refused(
    db: Database,
) -> None:
    client = await make_client(db, grant_types=["password"], is_first_party=True)

    with pytest.raises(ClientMetadataError) as refused:
        await update(db, client.client_id, is_first_party=False)

    assert refused.value.field == "grant_types"
    assert (await stored(db, client)).is_first_party is True


async def test_update_client_public_client_adding_client_credentials_is_refused(
    db: Database,
) -> None:
    client = await make_client(db, is_public=True)

    with pytest.raises(ClientMetadataError) as refused:
        await update(db, client.client_id, grant_types=["client_credentials"])

    assert refused.value.field == "grant_types"
    assert (await stored(db, client)).grant_types == ["authorization_code", "refresh_token"]


def test_validate_client_spec_public_client_that_can_introspect_is_refused() -> None:
    # RFC 7662 §2.1: introspection needs client authentication, which a public client lacks.
    spec = ClientSpec(
        name="SPA",
        redirect_uris=[REDIRECT_URI],
        scope="openid",
        is_public=True,
        can_introspect=True,
    )
    with pytest.raises(ClientMetadataError) as raised:
        validate_client_spec(spec)
    assert raised.value.field == "can_introspect"


def test_new_client_id_never_starts_with_a_dash() -> None:
    # token_urlsafe starts with "-" one time in 64; a CLI would read such an id as an option.
    ids = [new_client_id() for _ in range(2000)]
    assert not any(client_id.startswith("-") for client_id in ids)
    assert {len(client_id) for client_id in ids} == {24}
