"""CoolNotesApp settings, read from `COOLNOTES_*` environment variables (and `.env`)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoolNotesSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COOLNOTES_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    # The provider's issuer identifier; its discovery document tells us everything else.
    issuer: str = "http://127.0.0.1:8000"
    # Where this server reaches the provider when that differs from the browser's URL (compose:
    # http://auth:8000). Only back-channel calls (token, userinfo, keys) go there.
    issuer_internal_url: str | None = None
    # The notes API; called from this server only, never from the browser.
    api_url: str = "http://127.0.0.1:8001"
    # Our own address as the browser sees it: the redirect URIs registered for us derive from it.
    public_url: str = "http://127.0.0.1:8002"
    client_id: str = "coolnotes"
    client_secret: SecretStr | None = None
    # Or: a JSON file with client_id and client_secret, as `auth-service demo seed` writes it.
    credentials_file: Path | None = None
    session_ttl: int = Field(default=8 * 3600, ge=60)  # idle seconds before a sign-in is forgotten
    http_timeout: float = Field(default=5.0, gt=0)

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/auth/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.public_url}/"

    @property
    def cookie_secure(self) -> bool:
        return self.public_url.startswith("https://")

    @model_validator(mode="after")
    def _complete(self) -> CoolNotesSettings:
        self.issuer = self.issuer.rstrip("/")
        self.api_url = self.api_url.rstrip("/")
        self.public_url = self.public_url.rstrip("/")
        if self.issuer_internal_url is not None:
            self.issuer_internal_url = self.issuer_internal_url.rstrip("/")
        if self.client_secret is None and self.credentials_file is not None:
            data = json.loads(self.credentials_file.read_text())
            self.client_id = data["client_id"]
            self.client_secret = SecretStr(data["client_secret"])
        if self.client_secret is None:
            raise ValueError(
                "set COOLNOTES_CLIENT_SECRET (or COOLNOTES_CREDENTIALS_FILE); "
                "`make run` takes it from var/demo-credentials.json"
            )
        return self


@lru_cache
def get_settings() -> CoolNotesSettings:
    return CoolNotesSettings()
