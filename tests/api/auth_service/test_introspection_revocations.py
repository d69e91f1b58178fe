"""Introspection answers revocations from memory: this instance's at once, other instances' after
the next read of the table, and from the database itself when that copy is not current."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.repositories.revocations import RevocationRepository
from auth_service.revocations.notifier import RevocationNotifier
from shared.database import make_sessionmaker
from shared.models import RevocationEvent
from shared.revocations import RevocationList
from tests.factories import TestClient
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.lifecycle import introspect, revoke, verified_claims

SYNC_SECONDS = 0.2


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(update={"revocation_sync_interval": SYNC_SECONDS})


async def is_active(auth: httpx.AsyncClient, introspector: TestClient, token: str) -> bool:
    response = await introspect(auth, introspector, token)
    assert response.status_code == 200, response.text
    active: bool = response.json()["active"]
    return active


async def published_elsewhere(db: Database, clock: TestClock, kind: str, value: str) -> None:
    """A revocation committed by another instance: straight into the table, not through this app."""
    now = clock()
    await db.add(
        RevocationEvent(kind=kind, value=value, created_at=now, expires_at=now + timedelta(hours=1))
    )


async def test_token_introspected_before_its_revocation_is_inactive_right_after(
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    assert await is_active(auth_client, introspector, tokens["access_token"])  # now remembered

    response = await revoke(auth_client, confidential_client, tokens["access_token"])
    assert response.status_code == 200, response.text

    assert not await is_active(auth_client, introspector, tokens["access_token"])


async def test_revocation_by_another_instance_is_seen_after_the_next_sync(
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
    tokens: dict[str, Any],
    db: Database,
    clock: TestClock,
) -> None:
    token = tokens["access_token"]
    assert await is_active(auth_client, introspector, token)
    grant_id = (await verified_claims(auth_client, token))["grant_id"]

    await published_elsewhere(db, clock, "grant", grant_id)

    for _ in range(50):  # 5 s: many sync intervals, even on a loaded machine
        if not await is_active(auth_client, introspector, token):
            break
        await asyncio.sleep(0.1)
    assert not await is_active(auth_client, introspector, token)


async def test_introspection_reads_the_database_when_the_copy_is_not_current(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
    tokens: dict[str, Any],
    db: Database,
    clock: TestClock,
) -> None:
    mirror = auth_app.state.introspection.mirror
    await mirror.aclose()  # as if this instance had stopped reaching the table
    mirror.last_success = None
    token = tokens["access_token"]
    jti = (await verified_claims(auth_client, token))["jti"]

    await published_elsewhere(db, clock, "token", jti)

    assert not await is_active(auth_client, introspector, token)
    assert not mirror.revocations.is_revoked_value("token", jti)


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_only_committed_revocations_reach_the_local_list(
    db: Database, clock: TestClock, outcome: str
) -> None:
    local = RevocationList()
    notifier = RevocationNotifier(None, local=local)
    sessionmaker = make_sessionmaker(db.engine, listeners=notifier.listeners())
    now = clock()
    async with sessionmaker() as session:
        RevocationRepository(session).add(
            "grant", "g-1", expires_at=now + timedelta(minutes=5), now=now
        )
        if outcome == "commit":
            await session.commit()
        else:
            await session.rollback()

    assert local.is_revoked_value("grant", "g-1") is (outcome == "commit")
    assert await db.count(RevocationEvent, RevocationEvent.value == "g-1") == (
        1 if outcome == "commit" else 0
    )
