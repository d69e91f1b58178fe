"""/api/v1/notes: scopes, owner isolation (404, never 403), validation, cursor pagination."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.models import Note, SigningKey
from tests.factories import TestClient, TestUser, make_user
from tests.support.challenges import RESOURCE_METADATA, parse_challenges
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.forge import Forger, access_claims

REALM = "myauth-api"
BOTH = "read:notes write:notes"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

Headers = Callable[..., dict[str, str]]


@pytest.fixture
async def alice(db: Database) -> TestUser:
    return await make_user(db, username="alice", name="Alice")


@pytest.fixture
async def bob(db: Database) -> TestUser:
    return await make_user(db, username="bob", name="Bob")


@pytest.fixture
async def api(
    alice: TestUser, bob: TestUser, resource_client: httpx.AsyncClient
) -> httpx.AsyncClient:
    # The users exist before the resource app starts its background revocation feed.
    return resource_client


@pytest.fixture
def bearer(settings: AuthSettings, signing_key: SigningKey, clock: TestClock) -> Headers:
    """Authorization headers for access tokens signed by the issuer's real key."""
    forger = Forger.from_key_dir(settings.key_dir, signing_key.kid)

    def headers(sub: str, scope: str = BOTH, **claims: Any) -> dict[str, str]:
        token = forger.sign(access_claims(clock(), sub=sub, scope=scope, **claims))
        return {"Authorization": f"Bearer {token}"}

    return headers


def _note(owner: TestUser, title: str, *, minutes: int = 0, body: str = "") -> Note:
    at = T0 + timedelta(minutes=minutes)
    return Note(owner_id=owner.id, title=title, body=body, created_at=at, updated_at=at)


def _json(note: Note) -> dict[str, Any]:
    return {
        "id": note.id,
        "title": note.title,
        "body": note.body,
        "created_at": note.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": note.updated_at.isoformat().replace("+00:00", "Z"),
    }


async def _notes_of(db: Database, user: TestUser) -> list[tuple[str, str]]:
    rows = await db.all(Note, Note.owner_id == user.id)
    return sorted((note.title, note.body) for note in rows)


# --- create ---------------------------------------------------------------------------------------


async def test_notes_create_returns_201_location_and_stores_note_for_token_subject(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bearer: Headers
) -> None:
    response = await api.post(
        "/api/v1/notes", json={"title": "  Groceries ", "body": "eggs"}, headers=bearer(alice.id)
    )

    assert response.status_code == 201, response.text
    [row] = await db.all(Note, Note.owner_id == alice.id)
    assert response.headers["location"] == f"/api/v1/notes/{row.id}"
    assert response.json() == _json(row)
    assert (row.title, row.body) == ("Groceries", "eggs")  # the title is trimmed
    assert row.created_at == row.updated_at
    assert abs(row.created_at - datetime.now(UTC)) < timedelta(seconds=30)


async def test_notes_create_without_body_stores_empty_body(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bearer: Headers
) -> None:
    response = await api.post("/api/v1/notes", json={"title": "T"}, headers=bearer(alice.id))

    assert response.status_code == 201, response.text
    assert response.json()["body"] == ""
    assert await _notes_of(db, alice) == [("T", "")]


@pytest.mark.parametrize(
    ("payload", "loc", "error_type"),
    [
        ({"title": "", "body": "x"}, ["body", "title"], "string_too_short"),
        ({"title": "   "}, ["body", "title"], "string_too_short"),
        ({"title": "x" * 201}, ["body", "title"], "string_too_long"),
        ({"title": "x", "body": "y" * 10_001}, ["body", "body"], "string_too_long"),
        ({"body": "no title"}, ["body", "title"], "missing"),
        ({"title": 5}, ["body", "title"], "string_type"),
        ({"title": "x", "owner_id": "someone"}, ["body", "owner_id"], "extra_forbidden"),
    ],
    ids=["empty-title", "blank-title", "long-title", "long-body", "no-title", "number", "extra"],
)
async def test_notes_create_invalid_fields_returns_422_naming_the_field(
    api: httpx.AsyncClient,
    db: Database,
    alice: TestUser,
    bearer: Headers,
    payload: dict[str, Any],
    loc: list[str],
    error_type: str,
) -> None:
    response = await api.post("/api/v1/notes", json=payload, headers=bearer(alice.id))

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, error_type)
    assert await db.count(Note) == 0


async def test_notes_create_at_the_limits_is_accepted(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bearer: Headers
) -> None:
    payload = {"title": "t" * 200, "body": "b" * 10_000}

    response = await api.post("/api/v1/notes", json=payload, headers=bearer(alice.id))

    assert response.status_code == 201, response.text
    assert await _notes_of(db, alice) == [("t" * 200, "b" * 10_000)]


# --- read -----------------------------------------------------------------------------------------


async def test_notes_get_own_note_returns_it(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bearer: Headers
) -> None:
    note = _note(alice, "Mine", body="secret plans")
    await db.add(note)

    response = await api.get(f"/api/v1/notes/{note.id}", headers=bearer(alice.id, "read:notes"))

    assert response.status_code == 200, response.text
    assert response.json() == _json(note)


async def test_notes_get_another_users_note_returns_404_like_a_missing_one(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bob: TestUser, bearer: Headers
) -> None:
    note = _note(alice, "Alice's")
    await db.add(note)

    other = await api.get(f"/api/v1/notes/{note.id}", headers=bearer(bob.id))
    missing = await api.get(f"/api/v1/notes/{note.id + 1000}", headers=bearer(bob.id))

    assert (other.status_code, other.json()) == (404, {"detail": "note not found"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "note not found"})


async def test_notes_list_returns_only_own_notes_newest_first(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bob: TestUser, bearer: Headers
) -> None:
    first, second = _note(alice, "first", minutes=1), _note(alice, "second", minutes=2)
    await db.add(first)
    await db.add(_note(bob, "bob's"))
    await db.add(second)

    response = await api.get("/api/v1/notes", headers=bearer(alice.id, "read:notes"))

    assert response.status_code == 200, response.text
    assert response.json() == {"items": [_json(second), _json(first)], "next_cursor": None}


async def test_notes_list_without_notes_returns_empty_page(
    api: httpx.AsyncClient, alice: TestUser, bearer: Headers
) -> None:
    response = await api.get("/api/v1/notes", headers=bearer(alice.id))

    assert (response.status_code, response.json()) == (200, {"items": [], "next_cursor": None})


# --- pagination -----------------------------------------------------------------------------------


async def test_notes_list_cursor_walks_every_note_once_in_pages_of_limit(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bob: TestUser, bearer: Headers
) -> None:
    await db.add(*[_note(alice, f"n{i}", minutes=i) for i in range(7)])
    await db.add(_note(bob, "not alice's"))
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 3}

    while True:
        response = await api.get("/api/v1/notes", params=params, headers=bearer(alice.id))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["title"] for item in body["items"]])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]

    assert pages == [["n6", "n5", "n4"], ["n3", "n2", "n1"], ["n0"]]


async def test_notes_list_exactly_limit_notes_has_no_next_cursor(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bearer: Headers
) -> None:
    await db.add(*[_note(alice, f"n{i}") for i in range(3)])

    response = await api.get("/api/v1/notes", params={"limit": 3}, headers=bearer(alice.id))

    assert len(response.json()["items"]) == 3
    assert response.json()["next_cursor"] is None


async def test_notes_list_defaults_to_20_per_page(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bearer: Headers
) -> None:
    await db.add(*[_note(alice, f"n{i}") for i in range(21)])

    response = await api.get("/api/v1/notes", headers=bearer(alice.id))

    body = response.json()
    assert len(body["items"]) == 20 and body["next_cursor"] is not None


async def test_notes_list_cursor_after_a_deleted_note_still_continues(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bearer: Headers
) -> None:
    await db.add(*[_note(alice, f"n{i}") for i in range(4)])
    first = (await api.get("/api/v1/notes", params={"limit": 2}, headers=bearer(alice.id))).json()
    # The last note of the page disappears before the next page is asked for.
    await api.delete(f"/api/v1/notes/{first['items'][-1]['id']}", headers=bearer(alice.id))

    response = await api.get(
        "/api/v1/notes",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=bearer(alice.id),
    )

    assert [item["title"] for item in response.json()["items"]] == ["n1", "n0"]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
        ({"limit": "ten"}, ["query", "limit"]),
        ({"cursor": "not-a-cursor"}, ["query", "cursor"]),
        ({"cursor": "bjF4"}, ["query", "cursor"]),  # base64url of "n1x": decodes, but no id
        ({"cursor": "x" * 33}, ["query", "cursor"]),
    ],
    ids=["limit-0", "limit-101", "limit-text", "cursor-garbage", "cursor-tampered", "cursor-long"],
)
async def test_notes_list_bad_paging_parameters_return_422(
    api: httpx.AsyncClient,
    alice: TestUser,
    bearer: Headers,
    params: dict[str, Any],
    loc: list[str],
) -> None:
    response = await api.get("/api/v1/notes", params=params, headers=bearer(alice.id))

    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


async def test_notes_list_limit_100_is_accepted(
    api: httpx.AsyncClient, alice: TestUser, bearer: Headers
) -> None:
    response = await api.get("/api/v1/notes", params={"limit": 100}, headers=bearer(alice.id))

    assert response.status_code == 200, response.text


# --- delete ---------------------------------------------------------------------------------------


async def test_notes_delete_own_note_returns_204_and_removes_only_it(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bearer: Headers
) -> None:
    gone, kept = _note(alice, "gone"), _note(alice, "kept")
    await db.add(gone, kept)

    response = await api.delete(f"/api/v1/notes/{gone.id}", headers=bearer(alice.id, "write:notes"))

    assert (response.status_code, response.content) == (204, b"")
    assert await _notes_of(db, alice) == [("kept", "")]
    again = await api.delete(f"/api/v1/notes/{gone.id}", headers=bearer(alice.id))
    assert (again.status_code, again.json()) == (404, {"detail": "note not found"})


async def test_notes_delete_another_users_note_returns_404_and_keeps_it(
    api: httpx.AsyncClient, db: Database, alice: TestUser, bob: TestUser, bearer: Headers
) -> None:
    note = _note(alice, "Alice's")
    await db.add(note)

    response = await api.delete(f"/api/v1/notes/{note.id}", headers=bearer(bob.id))

    assert (response.status_code, response.json()) == (404, {"detail": "note not found"})
    assert await _notes_of(db, alice) == [("Alice's", "")]


# --- scopes and token subjects (RFC 6750 §3.1) ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "scope", "needed"),
    [
        ("GET", "/api/v1/notes", "write:notes", "read:notes"),
        ("GET", "/api/v1/notes/1", "openid profile write:notes", "read:notes"),
        ("POST", "/api/v1/notes", "read:notes", "write:notes"),
        ("DELETE", "/api/v1/notes/1", "read:notes profile", "write:notes"),
    ],
    ids=["list", "get", "create", "delete"],
)
async def test_notes_without_the_scope_returns_403_insufficient_scope(
    api: httpx.AsyncClient,
    db: Database,
    alice: TestUser,
    bearer: Headers,
    method: str,
    path: str,
    scope: str,
    needed: str,
) -> None:
    await db.add(_note(alice, "n"))  # id 1 exists and is hers: the scope alone decides

    response = await api.request(method, path, json={"title": "x"}, headers=bearer(alice.id, scope))

    assert response.status_code == 403, response.text
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "the access token lacks the required scope",
    }
    assert parse_challenges(response.headers["www-authenticate"]) == [
        (
            "Bearer",
            {
                "realm": REALM,
                "error": "insufficient_scope",
                "error_description": "the access token lacks the required scope",
                "scope": needed,
                "resource_metadata": RESOURCE_METADATA,
            },
        )
    ]
    assert await _notes_of(db, alice) == [("n", "")]


async def test_notes_without_a_token_returns_401_bearer_challenge(
    api: httpx.AsyncClient, db: Database
) -> None:
    response = await api.post("/api/v1/notes", json={"title": "x"})

    assert response.status_code == 401
    assert parse_challenges(response.headers["www-authenticate"]) == [
        ("Bearer", {"realm": REALM, "resource_metadata": RESOURCE_METADATA}),
        (
            "DPoP",
            {
                "realm": REALM,
                "algs": "ES256 PS256 EdDSA RS256",
                "resource_metadata": RESOURCE_METADATA,
            },
        ),
    ]
    assert await db.count(Note) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/notes"), ("POST", "/api/v1/notes"), ("DELETE", "/api/v1/notes/1")],
)
async def test_notes_client_credentials_token_returns_403(
    api: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    bearer: Headers,
    method: str,
    path: str,
) -> None:
    # Client credentials: `sub` is the client id, and no person owns notes for it.
    headers = bearer(confidential_client.client_id, client_id=confidential_client.client_id)

    response = await api.request(method, path, json={"title": "x"}, headers=headers)

    assert response.status_code == 403, response.text
    assert response.json() == {"detail": "this access token does not act for a user"}
    assert await db.count(Note) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/notes"), ("POST", "/api/v1/notes"), ("DELETE", "/api/v1/notes/1")],
)
async def test_notes_token_for_an_unknown_user_returns_403(
    api: httpx.AsyncClient, db: Database, bearer: Headers, method: str, path: str
) -> None:
    # A deleted account whose access token has not expired yet: the foreign key refuses writes.
    headers = bearer("00000000-0000-0000-0000-000000000000")

    response = await api.request(method, path, json={"title": "x"}, headers=headers)

    assert response.status_code == 403, response.text
    assert response.json() == {"detail": "this access token does not act for a user"}
    assert await db.count(Note) == 0


async def test_notes_token_issued_by_the_code_flow_creates_and_lists_notes(
    api: httpx.AsyncClient,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    alice: TestUser,
) -> None:
    request = AuthorizationRequest(confidential_client, scope="openid read:notes write:notes")
    tokens = await tokens_for(auth_client, request, alice)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    created = await api.post("/api/v1/notes", json={"title": "from the flow"}, headers=headers)
    listed = await api.get("/api/v1/notes", headers=headers)

    assert created.status_code == 201, created.text
    assert listed.json()["items"] == [created.json()]
