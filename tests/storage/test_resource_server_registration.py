"""Registering a resource server against a real database: the unique identifier decides two
registrations at once (SQLite here, PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.orm import ORMExecuteState

from auth_service.repositories import Repositories
from auth_service.resource_servers.registry import (
    ResourceServerError,
    ResourceServerSpec,
    register_resource_server,
)
from shared.models import ResourceServer
from tests.factories import TestUser, make_client
from tests.support.db import Database

URI = "https://photos.example/api"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def twin_registered_right_after_the_check(repos: Repositories) -> None:
    """The other registration lands between our look-up and our insert: the look-up runs and
    answers "free", then the twin is written in the same transaction, before our flush."""
    sync_session = repos.session.sync_session

    @event.listens_for(sync_session, "do_orm_execute")
    def after_check(state: ORMExecuteState) -> Any:
        if not state.is_select or ResourceServer not in {m.class_ for m in state.all_mappers}:
            return None
        event.remove(sync_session, "do_orm_execute", after_check)
        result = state.invoke_statement()
        state.session.execute(
            insert(ResourceServer).values(
                id="twin", uri=URI, name="Twin", scope="read:notes", created_at=NOW, updated_at=NOW
            )
        )
        return result


async def test_register_losing_the_race_is_the_field_error_and_the_twin_stays(
    db: Database,
) -> None:
    spec = ResourceServerSpec(uri=URI, name="Photos API", scopes=["read:notes"])

    async def work(repos: Repositories) -> ResourceServerError:
        twin_registered_right_after_the_check(repos)
        with pytest.raises(ResourceServerError) as refused:
            await register_resource_server(repos, spec, now=NOW)
        # The savepoint kept the transaction usable: another registration still works.
        other = ResourceServerSpec(uri="https://other.example", name="Other", scopes=["profile"])
        await register_resource_server(repos, other, now=NOW)
        return refused.value

    error = await db.run(work)

    assert (str(error), error.field) == ("a resource server with this identifier exists", "uri")
    rows = sorted((row.uri, row.name) for row in await db.all(ResourceServer))
    assert rows == [("https://other.example", "Other"), (URI, "Twin")]


async def test_repository_add_of_a_taken_identifier_is_false(db: Database) -> None:
    async def work(repos: Repositories) -> tuple[bool, bool]:
        first = ResourceServer(uri=URI, name="A", scope="profile", created_at=NOW, updated_at=NOW)
        twin = ResourceServer(uri=URI, name="B", scope="profile", created_at=NOW, updated_at=NOW)
        return await repos.resource_servers.add(first), await repos.resource_servers.add(twin)

    assert await db.run(work) == (True, False)
    (row,) = await db.all(ResourceServer)
    assert row.name == "A"


async def test_register_strips_the_name_before_checking_its_length(db: Database) -> None:
    spec = ResourceServerSpec(uri=URI, name="  " + "n" * 200 + "  ", scopes=["profile"])

    server = await db.run(lambda repos: register_resource_server(repos, spec, now=NOW))

    assert server.name == "n" * 200
    (row,) = await db.all(ResourceServer)
    assert row.name == "n" * 200


async def test_grant_resources_default_to_none_in_the_database_too(
    db: Database, user: TestUser
) -> None:
    """The model's server default is migration 0010's: a row written by plain SQL that
    predates resource indicators has no resources (`[]`), not NULL or a refusal."""
    client = await make_client(db)

    async def work(repos: Repositories) -> Any:
        connection = await repos.session.connection()
        await connection.execute(
            text(
                'INSERT INTO "grant" (id, user_id, client_id, scope, auth_time, created_at) '
                "VALUES ('g-1', :user_id, :client_id, 'openid', :now, :now)"
            ),
            {"user_id": user.id, "client_id": client.client_id, "now": NOW},
        )
        result = await connection.execute(text('SELECT resources FROM "grant"'))
        return result.scalar_one()

    stored = await db.run(work)

    assert (json.loads(stored) if isinstance(stored, str) else stored) == []
