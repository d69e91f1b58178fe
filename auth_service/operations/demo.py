"""Idempotent demo data for `make run`: a user, the CoolNotesApp confidential client, the public
client of the notes command-line tool (examples/notes_cli.py, device grant, RFC 8628) and the notes
API as a resource server (RFC 8707) at AUTH_RESOURCE_AUDIENCE.

CoolNotesApp's redirect URIs derive from its public URL: `auth-service demo seed --client-url`,
which reads `COOLNOTES_PUBLIC_URL` like the app itself (docker compose and the browser tests set it),
by default http://127.0.0.1:8002.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from auth_service.clients.registry import (
    ClientChanges,
    ClientSpec,
    register_client,
    rotate_client_secret,
    update_client,
)
from auth_service.identity.accounts import create_user
from auth_service.oauth.device_authorization import DEVICE_CODE_GRANT
from auth_service.repositories import Repositories
from auth_service.resource_servers.registry import (
    ResourceServerSpec,
    register_resource_server,
    update_resource_server,
)
from auth_service.security.passwords import PasswordHasher
from auth_service.security.secrets import token_matches

DEMO_USERNAME = "demo"
# A published demo credential for local use only: the seed refuses to run in production.
DEMO_PASSWORD = "demo-password-1"  # noqa: S105
DEMO_CLIENT_ID = "coolnotes"
DEMO_CLIENT_URL = "http://127.0.0.1:8002"
DEMO_SCOPE = "openid profile email read:notes write:notes offline_access"
NOTES_API_NAME = "Notes API"
# What resource_service serves: /api/v1/notes (read:notes, write:notes), /api/v1/me (profile)
# and /api/v1/email (email).
NOTES_API_SCOPES = ("read:notes", "write:notes", "profile", "email")
# examples/notes_cli.py: a public client (nothing on a user's machine stays secret) that signs in
# with the device grant and keeps a refresh token.
DEMO_CLI_CLIENT_ID = "notes-cli"
DEMO_CLI_SCOPE = "read:notes write:notes offline_access"


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    username: str
    password: str
    client_id: str
    client_secret: str
    redirect_uri: str

    def to_json(self) -> dict[str, str]:
        return {
            "username": self.username,
            "password": self.password,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri,
        }


async def seed_demo(
    repos: Repositories,
    hasher: PasswordHasher,
    *,
    credentials_file: Path,
    now: datetime,
    client_url: str | None = None,
    resource_uri: str | None = None,
) -> DemoCredentials:
    """Create what is missing. The client secret is kept in a 0600 file, since we only store its hash."""
    if resource_uri is not None:
        await seed_notes_api(repos, resource_uri, now=now)
    if await repos.users.get_by_username(DEMO_USERNAME) is None:
        await create_user(
            repos,
            hasher,
            username=DEMO_USERNAME,
            email="demo@example.com",
            password=DEMO_PASSWORD,
            name="Demo User",
            now=now,
        )
    client_url = (client_url or DEMO_CLIENT_URL).rstrip("/")
    urls = ClientChanges(
        redirect_uris=[f"{client_url}/auth/callback"],
        post_logout_redirect_uris=[f"{client_url}/"],
        homepage_uri=f"{client_url}/",
    )
    client = await repos.clients.get_by_client_id(DEMO_CLIENT_ID)
    saved = _read(credentials_file)
    if client is None:
        registered = await register_client(
            repos,
            ClientSpec(
                name="CoolNotesApp",
                redirect_uris=urls.redirect_uris or (),
                post_logout_redirect_uris=urls.post_logout_redirect_uris or (),
                scope=DEMO_SCOPE,
                homepage_uri=urls.homepage_uri,
            ),
            now=now,
            client_id=DEMO_CLIENT_ID,
        )
        secret = registered.client_secret
    else:
        if client.redirect_uris != urls.redirect_uris:
            # The app moved (another port, or compose's localhost): follow it.
            await update_client(repos, client, urls, now=now)
        if saved is not None and token_matches(saved, client.client_secret_hash):
            secret = saved
        else:
            secret = await rotate_client_secret(repos, client, now=now)
    assert secret is not None  # noqa: S101 - the demo client is confidential
    await _seed_cli_client(repos, now)
    credentials = DemoCredentials(
        DEMO_USERNAME, DEMO_PASSWORD, DEMO_CLIENT_ID, secret, f"{client_url}/auth/callback"
    )
    _write(credentials_file, credentials)
    return credentials


async def seed_notes_api(repos: Repositories, uri: str, *, now: datetime) -> None:
    """The notes API registered at `uri` with the scopes it serves; kept so on every run."""
    server = await repos.resource_servers.get_by_uri(uri)
    if server is None:
        spec = ResourceServerSpec(uri=uri, name=NOTES_API_NAME, scopes=NOTES_API_SCOPES)
        await register_resource_server(repos, spec, now=now)
    elif server.scopes != frozenset(NOTES_API_SCOPES):
        await update_resource_server(repos, server, scopes=NOTES_API_SCOPES, now=now)


async def _seed_cli_client(repos: Repositories, now: datetime) -> None:
    """The notes CLI's public client, registered once; re-seeding leaves it as it is."""
    if await repos.clients.get_by_client_id(DEMO_CLI_CLIENT_ID) is not None:
        return
    await register_client(
        repos,
        ClientSpec(
            name="Notes CLI",
            redirect_uris=(),
            scope=DEMO_CLI_SCOPE,
            grant_types=(DEVICE_CODE_GRANT, "refresh_token"),
            is_public=True,
        ),
        now=now,
        client_id=DEMO_CLI_CLIENT_ID,
    )


def _read(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    secret = data.get("client_secret") if isinstance(data, dict) else None
    return secret if isinstance(secret, str) else None


def _write(path: Path, credentials: DemoCredentials) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(credentials.to_json(), handle, indent=2)
