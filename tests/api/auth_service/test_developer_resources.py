"""/developers/resources: a signed-in person registers, views, edits and deletes their own
resource servers (RFC 8707); forms carry CSRF tokens; nobody sees or changes another's."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shared.models import Client, ResourceServer, RevocationEvent
from shared.revocations import CLIENT_CHANGED
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestUser, make_client, make_resource_server, make_user
from tests.support.db import Database
from tests.support.pages import sign_in
from tests.support.portal import FORM_EXPIRED, audit_events, page_error, signed_in, submit

API = "https://photos.example/api"
OTHER = "https://calendar.example"
NEW = "/developers/resources/new"


def resource_form(**overrides: str | None) -> dict[str, str]:
    values: dict[str, str | None] = {
        "uri": API,
        "name": "Photos API",
        "scope-read:notes": "on",
        "scope-profile": "on",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


async def register(auth: httpx.AsyncClient, **overrides: str | None) -> httpx.Response:
    return await submit(auth, NEW, "/developers/resources", resource_form(**overrides))


@pytest.mark.parametrize("path", ["/developers/resources", NEW])
async def test_developer_resources_signed_out_are_sent_to_login(
    auth_client: httpx.AsyncClient, path: str
) -> None:
    response = await auth_client.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


async def test_developer_resources_register_shows_it_and_lists_it(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    response = await register(auth_client)

    (row,) = await db.all(ResourceServer)
    assert (row.uri, row.name, row.scope, row.owner_id) == (
        API,
        "Photos API",
        "profile read:notes",
        user.id,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/developers/resources/{row.id}?message=saved"
    page = await auth_client.get(response.headers["location"])
    assert page.status_code == 200
    assert API in page.text
    # A notice (role=status), not an error (role=alert).
    assert '<p class="notice" role="status">Saved.</p>' in page.text
    assert page_error(page) is None and 'role="alert"' not in page.text
    listing = await auth_client.get("/developers/resources")
    assert f'href="/developers/resources/{row.id}"' in listing.text
    (event,) = await audit_events(db, "resource_server_registered")
    assert (event.user_id, event.details) == (user.id, {"resource": API})


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"uri": "/api"}, "the identifier must be an absolute URI (RFC 8707 section 2)"),
        (
            {"uri": API + "#x"},
            "the identifier must not contain a fragment (RFC 8707 section 2)",
        ),
        (
            {"scope-read:notes": None, "scope-profile": None},
            "a resource server serves at least one scope",
        ),
        ({"name": ""}, "name must be 1-200 characters"),
    ],
)
async def test_developer_resources_register_refused_shows_the_form_and_stores_nothing(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    overrides: dict[str, str | None],
    error: str,
) -> None:
    await sign_in(auth_client, user)

    response = await register(auth_client, **overrides)

    assert response.status_code == 400
    assert page_error(response) == error
    assert await db.count(ResourceServer) == 0


@pytest.mark.parametrize(
    "uri",
    [
        ISSUER,
        f"{ISSUER}/oauth/userinfo",
        "HTTP://Auth.Test:80/api",
        AUDIENCE,
        f"{AUDIENCE}/",
        "http://RESOURCE.test",
    ],
)
async def test_developer_resources_reserved_identifier_is_refused_and_nothing_stored(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, uri: str
) -> None:
    await sign_in(auth_client, user)

    response = await register(auth_client, uri=uri)

    # Our own origin and the default audience are the operator's to register (CLI, demo seed).
    assert response.status_code == 400
    assert page_error(response) == "this identifier is reserved for the operator"
    assert 'id="uri" name="uri"' in response.text and 'aria-invalid="true"' in response.text
    assert await db.count(ResourceServer) == 0
    assert await audit_events(db, "resource_server_registered") == []


async def test_developer_resources_other_origins_and_paths_stay_open(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    for uri in ("https://auth.test", "http://auth.test:8443/api", f"{AUDIENCE}/photos"):
        response = await register(auth_client, uri=uri)
        assert response.status_code == 303, (uri, response.text)

    assert await db.count(ResourceServer) == 3


async def test_developer_resources_taken_identifier_is_refused(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await make_resource_server(db, API)
    await sign_in(auth_client, user)

    response = await register(auth_client)

    assert response.status_code == 400
    assert page_error(response) == "a resource server with this identifier exists"
    (row,) = await db.all(ResourceServer)
    assert row.owner_id is None


async def test_developer_resources_forms_without_csrf_token_change_nothing(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    owned = await make_resource_server(db, "https://mine.example", owner_id=user.id)

    created = await auth_client.post("/developers/resources", data=resource_form())
    updated = await auth_client.post(
        f"/developers/resources/{owned.id}", data=resource_form(name="Renamed")
    )
    deleted = await auth_client.post(
        f"/developers/resources/{owned.id}/delete", data={"csrf_token": "forged"}
    )

    for response in (created, updated, deleted):
        assert response.status_code == 400
        assert page_error(response) == FORM_EXPIRED
    (row,) = await db.all(ResourceServer)
    assert (row.uri, row.name) == ("https://mine.example", "Test API")


async def test_developer_resources_edit_changes_name_and_scopes_not_the_identifier(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    owned = await make_resource_server(db, API, owner_id=user.id)
    path = f"/developers/resources/{owned.id}"

    response = await submit(
        auth_client,
        path,
        path,
        resource_form(uri="https://elsewhere.example", name="Photos", **{"scope-profile": None}),
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"{path}?message=saved"
    row = await db.get(ResourceServer, owned.id)
    assert row is not None
    assert (row.uri, row.name, row.scope) == (API, "Photos", "read:notes")


async def test_developer_resources_delete_removes_it(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    owned = await make_resource_server(db, API, owner_id=user.id)
    path = f"/developers/resources/{owned.id}"

    response = await submit(auth_client, path, f"{path}/delete", {})

    assert response.status_code == 303
    assert response.headers["location"] == "/developers/resources?message=deleted"
    assert await db.count(ResourceServer) == 0
    (event,) = await audit_events(db, "resource_server_deleted")
    assert event.details == {"resource": API}


async def test_developer_resources_delete_takes_it_off_the_clients_limited_to_it(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    owned = await make_resource_server(db, API, owner_id=user.id)
    await make_resource_server(db, OTHER)
    both = await make_client(db, resources=[API, OTHER])
    only = await make_client(db, resources=[API])
    unlimited = await make_client(db)
    path = f"/developers/resources/{owned.id}"

    response = await submit(auth_client, path, f"{path}/delete", {})

    assert response.status_code == 303
    rows = {c.client_id: c for c in await db.all(Client)}
    assert rows[both.client_id].resources == [OTHER]
    # Limited to nothing else: it stays limited (to none), it is not opened to every server.
    assert rows[only.client_id].resources == []
    assert rows[unlimited.client_id].resources is None
    # Every instance forgets its cached copy of the two changed clients (and of no other).
    changed = await db.all(RevocationEvent, RevocationEvent.kind == CLIENT_CHANGED)
    assert sorted(e.value for e in changed) == sorted([both.client_id, only.client_id])
    assert [r.uri for r in await db.all(ResourceServer)] == [OTHER]


async def test_developer_resources_of_someone_else_are_not_found(
    auth_app: FastAPI, db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    other = await make_user(db)
    theirs = await make_resource_server(db, API, owner_id=other.id)
    operators = await make_resource_server(db, "https://operator.example")
    await sign_in(auth_client, user)
    listing = await auth_client.get("/developers/resources")
    csrf_page = await auth_client.get(NEW)  # a valid token of this user's session
    token = csrf_page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    for server in (theirs, operators):
        path = f"/developers/resources/{server.id}"
        responses = [
            await auth_client.get(path),
            await auth_client.post(path, data=resource_form(name="Mine", csrf_token=token)),
            await auth_client.post(f"{path}/delete", data={"csrf_token": token}),
        ]
        assert [r.status_code for r in responses] == [404, 404, 404]
        assert server.id not in listing.text
    rows = {row.id: (row.name, row.owner_id) for row in await db.all(ResourceServer)}
    assert rows == {theirs.id: ("Test API", other.id), operators.id: ("Test API", None)}
    async with signed_in(auth_app, other) as their_browser:
        mine = await their_browser.get("/developers/resources")
    assert f"/developers/resources/{theirs.id}" in mine.text
