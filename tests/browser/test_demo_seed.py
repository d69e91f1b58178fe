"""`auth-service demo seed`, which `make run`, docker compose and the browser tests rely on.

CoolNotesApp's redirect URIs follow its public URL (`demo seed --client-url`, which reads
COOLNOTES_PUBLIC_URL), and the client secret survives re-seeding while the credentials file holds it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from auth_service.operations.demo import DEMO_CLI_CLIENT_ID, DEMO_CLIENT_ID, seed_demo
from auth_service.repositories import Repositories
from shared.models import Client, User
from tests.factories import FAST_HASHER
from tests.support.db import Database


async def _seed(db: Database, path: Path, client_url: str | None = None) -> dict[str, str]:
    async def work(repos: Repositories) -> dict[str, str]:
        credentials = await seed_demo(
            repos,
            FAST_HASHER,
            credentials_file=path,
            now=datetime.now(UTC),
            client_url=client_url,
        )
        return credentials.to_json()

    return await db.run(work)


async def test_demo_seed_registers_coolnotes_at_the_default_url(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "demo-credentials.json"

    credentials = await _seed(db, path)

    client = await db.get(Client, DEMO_CLIENT_ID)
    assert client is not None
    assert client.redirect_uris == ["http://127.0.0.1:8002/auth/callback"]
    assert client.post_logout_redirect_uris == ["http://127.0.0.1:8002/"]
    assert client.scope == "openid profile email read:notes write:notes offline_access"
    assert json.loads(path.read_text()) == credentials
    assert path.stat().st_mode & 0o777 == 0o600
    assert await db.count(User, User.username == "demo") == 1


async def test_demo_seed_follows_coolnotes_public_url_and_keeps_the_secret(
    db: Database, tmp_path: Path
) -> None:
    # `auth-service demo seed --client-url` (envvar COOLNOTES_PUBLIC_URL) passes the URL in.
    path = tmp_path / "demo-credentials.json"
    first = await _seed(db, path, "http://127.0.0.1:8002")

    again = await _seed(db, path, "http://localhost:8002/")

    client = await db.get(Client, DEMO_CLIENT_ID)
    assert client is not None
    assert client.redirect_uris == ["http://localhost:8002/auth/callback"]
    assert client.post_logout_redirect_uris == ["http://localhost:8002/"]
    assert again["client_secret"] == first["client_secret"]
    assert again["redirect_uri"] == "http://localhost:8002/auth/callback"


async def test_demo_seed_without_the_saved_secret_issues_a_new_one(
    db: Database, tmp_path: Path
) -> None:
    first = await _seed(db, tmp_path / "a.json", "http://127.0.0.1:8002")

    second = await _seed(db, tmp_path / "b.json", "http://127.0.0.1:8002")

    # Only the digest is stored, so a lost file means a new secret (the old one stops working).
    assert second["client_secret"] != first["client_secret"]


async def test_demo_seed_registers_the_notes_cli_device_client_once(
    db: Database, tmp_path: Path
) -> None:
    await _seed(db, tmp_path / "demo-credentials.json")

    await _seed(db, tmp_path / "demo-credentials.json")

    # examples/notes_cli.py's client (README "Devices and command-line tools"), RFC 8628.
    (client,) = await db.all(Client, Client.client_id == DEMO_CLI_CLIENT_ID)
    assert client.is_public
    assert client.token_endpoint_auth_method == "none"
    assert client.grant_types == ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
    assert client.redirect_uris == []
    assert client.scope == "read:notes write:notes offline_access"
