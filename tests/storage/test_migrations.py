"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, column, inspect, select, table, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from auth_service.operations import migrations
from shared.database import make_engine
from tests.support.databases import fresh_database


def _diff(url: str) -> tuple[list[Any], set[str]]:
    async def run() -> tuple[list[Any], set[str]]:
        engine = make_engine(url, sqlite_begin_immediate=False)

        def compare(connection: Connection) -> tuple[list[Any], set[str]]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata), set(
                inspect(connection).get_table_names()
            )

        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrations_upgrade_head_matches_the_models(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        migrations.upgrade(url)
        diff, tables = _diff(url)
    assert diff == []
    assert {t.name for t in SQLModel.metadata.sorted_tables} | {"alembic_version"} == tables


def test_migrations_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        migrations.upgrade(url)
        migrations.downgrade(url, "base")
        _, tables = _diff(url)
        assert tables <= {"alembic_version"}
        migrations.upgrade(url)
        diff, _ = _diff(url)
    assert diff == []


def _client_auth_methods(url: str) -> dict[str, str]:
    async def run() -> dict[str, str]:
        engine = make_engine(url, sqlite_begin_immediate=False)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text("SELECT client_id, token_endpoint_auth_method FROM client")
                )
                return {row[0]: row[1] for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _insert_clients_before_0004(url: str) -> None:
    async def run() -> None:
        engine = make_engine(url, sqlite_begin_immediate=False)
        try:
            async with engine.begin() as connection:
                for client_id, is_public in (("spa", True), ("web", False)):
                    await connection.execute(
                        text(
                            "INSERT INTO client (client_id, name, redirect_uris, scope, "
                            "grant_types, is_public, require_pkce, is_first_party, "
                            "post_logout_redirect_uris, can_introspect, created_at, updated_at) "
                            "VALUES (:id, 'App', '[]', 'openid', '[]', :public, true, false, "
                            "'[]', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                        ),
                        {"id": client_id, "public": is_public},
                    )
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_migration_0005_gives_public_clients_of_before_0004_the_none_method(
    tmp_path: Path,
) -> None:
    with fresh_database(tmp_path) as url:
        migrations.upgrade(url, "0003")
        _insert_clients_before_0004(url)
        migrations.upgrade(url, "0004")
        assert _client_auth_methods(url) == {
            "spa": "client_secret_basic",
            "web": "client_secret_basic",
        }
        migrations.upgrade(url)
        assert _client_auth_methods(url) == {"spa": "none", "web": "client_secret_basic"}


def _registered_metadata(url: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        engine = make_engine(url, sqlite_begin_immediate=False)
        try:
            async with engine.connect() as connection:
                client = table("client", column("client_id"), column("registered_metadata", JSON))
                rows = await connection.execute(select(client))
                return {row[0]: row[1] for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migration_0006_gives_existing_clients_empty_registered_metadata(tmp_path: Path) -> None:
    # RFC 7591 §3.2.1: nothing informational was kept before, so nothing is echoed for them.
    with fresh_database(tmp_path) as url:
        migrations.upgrade(url, "0003")
        _insert_clients_before_0004(url)
        migrations.upgrade(url)
        assert _registered_metadata(url) == {"spa": {}, "web": {}}
        migrations.downgrade(url, "0005")
        assert _client_auth_methods(url) == {"spa": "none", "web": "client_secret_basic"}


def _high_security_columns(url: str) -> dict[str, tuple[Any, ...]]:
    async def run() -> dict[str, tuple[Any, ...]]:
        engine = make_engine(url, sqlite_begin_immediate=False)
        try:
            async with engine.connect() as connection:
                client = table(
                    "client",
                    column("client_id"),
                    column("require_pushed_authorization_requests"),
                    column("dpop_bound_access_tokens"),
                    column("jwks", JSON),
                    column("jwks_uri"),
                    column("id_token_signed_response_alg"),
                )
                rows = await connection.execute(select(client))
                return {row[0]: tuple(row[1:]) for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migration_0007_keeps_existing_clients_as_they_were(tmp_path: Path) -> None:
    # No PAR requirement, no DPoP binding, no keys, the server's default ID token algorithm.
    with fresh_database(tmp_path) as url:
        migrations.upgrade(url, "0003")
        _insert_clients_before_0004(url)
        migrations.upgrade(url)
        unchanged = (False, False, None, None, None)
        assert _high_security_columns(url) == {"spa": unchanged, "web": unchanged}
        migrations.downgrade(url, "0006")
        assert _registered_metadata(url) == {"spa": {}, "web": {}}


def _sealed_secrets(url: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        engine = make_engine(url, sqlite_begin_immediate=False)
        try:
            async with engine.connect() as connection:
                client = table("client", column("client_id"), column("client_secret_encrypted"))
                rows = await connection.execute(select(client))
                return {row[0]: row[1] for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migration_0008_gives_existing_clients_no_sealed_secret_and_downgrades(
    tmp_path: Path,
) -> None:
    # client_secret_jwt (RFC 7523 §2.2) is new: no existing client has its secret sealed.
    with fresh_database(tmp_path) as url:
        migrations.upgrade(url, "0003")
        _insert_clients_before_0004(url)
        migrations.upgrade(url)
        assert _sealed_secrets(url) == {"spa": None, "web": None}
        migrations.downgrade(url, "0007")
        assert _high_security_columns(url) == {
            "spa": (False, False, None, None, None),
            "web": (False, False, None, None, None),
        }


FAMILY_TABLES = ("user_account", "client", "consent", '"grant"', "refresh_token")


def _insert_a_family_before_0004(url: str) -> None:
    """A user who consented to `web`, with its grant and a refresh token: the rows a batch
    migration of `client` or `grant` must never take with it."""

    async def run() -> None:
        engine = make_engine(url, sqlite_begin_immediate=False)
        try:
            async with engine.begin() as connection:
                for statement in (
                    "INSERT INTO user_account (id, username, email, email_verified, name, "
                    "password_hash, created_at, updated_at) VALUES ('u1', 'ada', "
                    "'ada@example.com', false, '', 'x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                    "INSERT INTO consent (user_id, client_id, scope, created_at, updated_at) "
                    "VALUES ('u1', 'web', 'openid', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                    'INSERT INTO "grant" (id, user_id, client_id, scope, auth_time, created_at) '
                    "VALUES ('g1', 'u1', 'web', 'openid', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                    "INSERT INTO refresh_token (token_hash, grant_id, client_id, scope, "
                    "created_at, expires_at) VALUES ('h1', 'g1', 'web', 'openid', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                ):
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


def _family_counts(url: str) -> dict[str, int]:
    async def run() -> dict[str, int]:
        engine = make_engine(url, sqlite_begin_immediate=False)
        try:
            async with engine.connect() as connection:
                counts = {}
                for name in FAMILY_TABLES:
                    query = text(f"SELECT count(*) FROM {name}")  # noqa: S608 - our constants
                    counts[name] = (await connection.execute(query)).scalar_one()
                return counts
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrations_keep_every_consent_grant_and_refresh_token_both_ways(tmp_path: Path) -> None:
    # SQLite batch migrations copy a table and drop the original; with foreign keys on, that DROP
    # would cascade to every child row (env.py migrates with them off and checks them after).
    everything = dict.fromkeys(FAMILY_TABLES, 1) | {"client": 2}
    with fresh_database(tmp_path) as url:
        migrations.upgrade(url, "0003")
        _insert_clients_before_0004(url)
        _insert_a_family_before_0004(url)
        migrations.upgrade(url)
        assert _family_counts(url) == everything
        migrations.downgrade(url, "0009")
        assert _family_counts(url) == everything
        migrations.upgrade(url)
        assert _family_counts(url) == everything
