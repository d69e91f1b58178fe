"""A routine audit event (token issued) is kept only if the token's transaction commits (found by
the fault suite: a commit that failed in a PostgreSQL outage still left a token_issued row)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from shared.database import make_sessionmaker
from shared.models import AuditEvent
from tests.factories import make_client
from tests.support.db import Database


def _connection_lost_at_commit(session: Any) -> None:
    raise OperationalError("COMMIT", None, ConnectionResetError("connection lost"))


async def test_token_issued_event_is_dropped_when_the_commit_fails(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database
) -> None:
    client = await make_client(db, grant_types=["client_credentials"], scope="read:notes")
    failing = make_sessionmaker(
        auth_app.state.engine, listeners={"before_commit": _connection_lost_at_commit}
    )
    auth_app.state.sessionmaker, working = failing, auth_app.state.sessionmaker
    try:
        response = await auth_client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=client.basic_auth()
        )
    finally:
        auth_app.state.sessionmaker = working

    assert response.status_code == 503
    assert await auth_app.state.audit_buffer.flush() == 0
    assert await db.count(AuditEvent) == 0


async def test_token_issued_event_is_kept_when_the_commit_succeeds(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database
) -> None:
    client = await make_client(db, grant_types=["client_credentials"], scope="read:notes")
    response = await auth_client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=client.basic_auth()
    )

    assert response.status_code == 200
    assert await auth_app.state.audit_buffer.flush() == 1
    (event,) = await db.all(AuditEvent)
    assert (event.event, event.client_id) == ("token_issued", client.client_id)
