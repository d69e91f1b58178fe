"""The user repository's profile update against a real database (SQLite here, PostgreSQL in CI)."""

from __future__ import annotations

from auth_service.repositories import Repositories
from shared.models import User
from tests.factories import TestUser, make_user
from tests.support.db import Database


async def test_update_profile_losing_the_race_for_an_email_keeps_the_transaction_usable(
    db: Database, user: TestUser
) -> None:
    """The unique index catches what the route's check missed (two requests at once); a
    savepoint keeps the rest of the request's work."""
    other = await make_user(db)

    async def work(repos: Repositories) -> tuple[bool, bool]:
        lost = await repos.users.update_profile(
            user.user, name="Taken", email=other.user.email, now=user.user.updated_at
        )
        kept = await repos.users.update_profile(
            user.user, name="Renamed", email=user.user.email, now=user.user.updated_at
        )
        return lost, kept

    assert await db.run(work) == (False, True)
    row = await db.get(User, user.id)
    assert row is not None and (row.name, row.email) == ("Renamed", user.user.email)
