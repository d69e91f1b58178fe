"""Idempotent demo data for `make run`: a user and the CoolNotesApp confidential client."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from auth_service.accounts import create_user
from auth_service.client_registry import ClientSpec, register_client, rotate_client_secret
from auth_service.repositories import Repositories
from auth_service.security.passwords import PasswordHasher
from auth_service.security.secrets import token_matches

DEMO_USERNAME = "demo"
# A published demo credential for local use only: the seed refuses to run in production.
DEMO_PASSWORD = "demo-password-1"  # noqa: S105
DEMO_CLIENT_ID = "coolnotes"
DEMO_REDIRECT_URI = "http://127.0.0.1:8002/auth/callback"
DEMO_POST_LOGOUT_URI = "http://127.0.0.1:8002/"


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
    repos: Repositories, hasher: PasswordHasher, *, credentials_file: Path, now: datetime
) -> DemoCredentials:
    """Create what is missing. The client secret is kept in a 0600 file, since we only store its hash."""
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
    client = await repos.clients.get_by_client_id(DEMO_CLIENT_ID)
    saved = _read(credentials_file)
    if client is None:
        registered = await register_client(
            repos,
            ClientSpec(
                name="CoolNotesApp",
                redirect_uris=[DEMO_REDIRECT_URI],
                post_logout_redirect_uris=[DEMO_POST_LOGOUT_URI],
                scope="openid profile email read:notes write:notes offline_access",
                homepage_uri="http://127.0.0.1:8002/",
            ),
            now=now,
            client_id=DEMO_CLIENT_ID,
        )
        secret = registered.client_secret
    elif saved is not None and token_matches(saved, client.client_secret_hash):
        secret = saved
    else:
        secret = await rotate_client_secret(repos, client, now=now)
    assert secret is not None  # noqa: S101 - the demo client is confidential
    credentials = DemoCredentials(
        DEMO_USERNAME, DEMO_PASSWORD, DEMO_CLIENT_ID, secret, DEMO_REDIRECT_URI
    )
    _write(credentials_file, credentials)
    return credentials


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
