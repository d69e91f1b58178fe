"""Deleting an account (issue 16): after the password, one transaction ends every session and
grant, publishes the deletion on the revocation feed (resource servers refuse the subject's
tokens and delete its data), deletes the person's rows and registered apps, and leaves the
audit log with an opaque id only; refusals change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col

from auth_service.clients.registry import ClientSpec, register_client
from resource_service.account_deletion import user_data_deleter
from shared.database import make_engine, make_sessionmaker
from shared.models import (
    AuditEvent,
    Client,
    Consent,
    Grant,
    Note,
    RefreshToken,
    RevocationEvent,
    User,
    UserSession,
)
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.pages import SESSION_COOKIE, set_cookie, sign_in
from tests.support.portal import browser, page_error, signed_in, submit
from tests.support.token_endpoint import refresh

PASSWORD = "Delete-Me-Pa55phrase-0a9f"  # noqa: S105 - test credential


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, username="eve", email="eve@example.com", password=PASSWORD)


@pytest.fixture
async def notes_app(db: Database) -> TestClient:
    return await make_client(db, name="Notes App")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def delete_me(auth: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    return await submit(auth, "/account/delete", "/account/delete", {"current_password": password})


async def test_deleting_an_account_removes_the_person_and_ends_every_access(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    resource_app: FastAPI,
    resource_client: httpx.AsyncClient,
    notes_app: TestClient,
    user: TestUser,
) -> None:
    tokens: dict[str, Any] = await tokens_for(
        auth_client, AuthorizationRequest(notes_app, scope="openid read:notes offline_access"), user
    )
    now = datetime.now(UTC)
    await db.add(Note(owner_id=user.id, title="diary", created_at=now, updated_at=now))
    owned = await db.run(
        lambda repos: register_client(
            repos,
            ClientSpec(name="Eve's App", redirect_uris=["https://eve.example/cb"], scope="openid"),
            now=now,
            owner_id=user.id,
        )  # fmt: skip
    )
    bob = await make_user(db, username="bob")
    assert (
        await resource_client.get("/api/v1/notes", headers=bearer(tokens["access_token"]))
    ).status_code == 200
    async with signed_in(auth_app, user) as elsewhere:
        await auth_app.state.audit_buffer.flush()  # token_issued, before counting
        events_before = await db.count(AuditEvent, AuditEvent.user_id == user.id)
        assert events_before > 0

        deleted = await delete_me(auth_client)

        assert deleted.status_code == 303
        assert deleted.headers["location"] == "/account/deleted"
        assert set_cookie(deleted, SESSION_COOKIE)["value"] == ""
        assert (await elsewhere.get("/account")).status_code == 303
    assert await db.get(User, user.id) is None
    for model, column in (
        (UserSession, UserSession.user_id),
        (Grant, Grant.user_id),
        (Consent, Consent.user_id),
        (Note, Note.owner_id),
        (AuditEvent, AuditEvent.user_id),
    ):
        assert await db.count(model, column == user.id) == 0, model
    assert await db.count(RefreshToken) == 0
    assert await db.get(Client, owned.client.client_id) is None
    assert await db.get(User, bob.id) is not None
    # The history stays, under one opaque id.
    (event,) = await db.all(AuditEvent, AuditEvent.event == "account_deleted")
    assert event.user_id is not None and event.user_id.startswith("deleted-")
    assert len(event.user_id) == 36 and user.id not in str(event.details)
    assert await db.count(AuditEvent, AuditEvent.user_id == event.user_id) == events_before + 1
    kinds = {(e.kind, e.value) for e in await db.all(RevocationEvent)}
    assert ("user", user.id) in kinds
    assert ("client", owned.client.client_id) in kinds
    # Refresh tokens die with the rows; access tokens through the feed.
    assert_oauth_error(
        await refresh(auth_client, notes_app, tokens["refresh_token"]), "invalid_grant"
    )
    assert await resource_app.state.revocation_feed.poll() is True
    refused = await resource_client.get("/api/v1/notes", headers=bearer(tokens["access_token"]))
    assert_oauth_error(
        refused, "invalid_token", status=401, description="the access token was revoked"
    )
    page = await auth_client.get("/account/deleted")
    assert page.status_code == 200 and "Your account was deleted" in page.text


async def test_audit_events_still_in_the_buffer_get_the_stand_in_too(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, notes_app: TestClient,
    user: TestUser,
) -> None:  # fmt: skip
    await tokens_for(auth_client, AuthorizationRequest(notes_app, scope="openid"), user)
    # The token_issued event is still in this instance's buffer: not flushed on purpose.

    assert (await delete_me(auth_client)).status_code == 303

    await auth_app.state.audit_buffer.flush()
    assert await db.count(AuditEvent, AuditEvent.user_id == user.id) == 0
    (issued,) = await db.all(AuditEvent, AuditEvent.event == "token_issued")
    assert issued.user_id is not None and issued.user_id.startswith("deleted-")


async def test_a_wrong_password_deletes_nothing_and_repeated_failures_wait(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    refused = await delete_me(auth_client, password="not-my-password")

    assert (refused.status_code, page_error(refused)) == (400, "Your password is not right.")
    assert await db.get(User, user.id) is not None
    statuses = [
        (await delete_me(auth_client, password="still-wrong")).status_code for _ in range(4)
    ]
    assert statuses[-1] == 429
    waited = await delete_me(auth_client)  # even the right password waits its turn
    assert waited.status_code == 429 and int(waited.headers["retry-after"]) > 0
    assert await db.get(User, user.id) is not None
    assert await db.count(AuditEvent, AuditEvent.event == "account_deletion_failed") >= 1


async def test_the_deletion_form_needs_its_csrf_token_and_a_session(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    async with browser(auth_app) as stranger:
        anonymous = await stranger.post("/account/delete", data={"current_password": PASSWORD})
        assert anonymous.status_code == 303  # to the sign-in page
    await sign_in(auth_client, user)
    forged = await auth_client.post(
        "/account/delete", data={"current_password": PASSWORD, "csrf_token": "forged"}
    )

    assert (forged.status_code, page_error(forged)) == (
        400,
        "This form has expired. Please try again.",
    )
    assert await db.get(User, user.id) is not None


async def test_the_notes_hook_deletes_what_is_left_and_is_idempotent(
    db: Database, database_url: str, user: TestUser
) -> None:
    """The resource service's hook, as the feed follower calls it: idempotent, scoped."""
    now = datetime.now(UTC)
    other = await make_user(db, username="frank")
    await db.add(
        Note(owner_id=user.id, title="a", created_at=now, updated_at=now),
        Note(owner_id=user.id, title="b", created_at=now, updated_at=now),
        Note(owner_id=other.id, title="c", created_at=now, updated_at=now),
    )
    engine = make_engine(database_url)
    try:
        delete_user_data = user_data_deleter(make_sessionmaker(engine))
        await delete_user_data(user.id)
        await delete_user_data(user.id)
    finally:
        await engine.dispose()
    assert await db.count(Note, Note.owner_id == user.id) == 0
    assert [n.title for n in await db.all(Note, col(Note.owner_id) == other.id)] == ["c"]
