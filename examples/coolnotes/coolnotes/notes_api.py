"""Calls to the notes API with the signed-in user's access token, refreshed when needed.

Authlib's httpx client sends the token (RFC 6750 §2.1), refreshes it before it expires and calls
`update_token` with the new one (refresh tokens rotate, so the new one must be kept). When the
API still answers 401 (the access token was revoked, or the clocks disagree) we refresh once
and retry. If the provider refuses the refresh token, the user has to log in again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from coolnotes.config import CoolNotesSettings
from coolnotes.http import httpx
from coolnotes.provider import http_options
from coolnotes.sessions import Session


class LoginRequired(Exception):
    """The user's tokens are gone or refused: access was revoked, or the session expired."""


@dataclass(frozen=True)
class NotesPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


class NotesApi:
    """The notes API as the signed-in user of `session` (whose "token" holds the token set)."""

    def __init__(
        self,
        settings: CoolNotesSettings,
        token_endpoint: str,
        session: Session,
        *,
        http: dict[str, Any] | None = None,  # httpx options; tests route to in-process apps
    ) -> None:
        self.settings = settings
        self.token_endpoint = token_endpoint
        self.session = session
        self.http = http if http is not None else http_options(settings)

    async def page(self, cursor: str | None = None) -> NotesPage:
        params = {"cursor": cursor} if cursor else {}
        response = await self._request("GET", "/api/v1/notes", params=params)
        response.raise_for_status()
        body = response.json()
        return NotesPage(body["items"], body["next_cursor"])

    async def create(self, title: str, body: str) -> list[str]:
        """Add a note; returns the API's validation messages (empty when it was created)."""
        response = await self._request("POST", "/api/v1/notes", json={"title": title, "body": body})
        if response.status_code == 422:
            return [f"{e['loc'][-1].capitalize()}: {e['msg']}" for e in response.json()["detail"]]
        response.raise_for_status()
        return []

    async def delete(self, note_id: int) -> None:
        response = await self._request("DELETE", f"/api/v1/notes/{note_id}")
        if response.status_code != 404:  # already gone is as good as deleted
            response.raise_for_status()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "token" not in self.session:
            raise LoginRequired
        url = f"{self.settings.api_url}{path}"
        try:
            async with self._client() as client:
                response: httpx.Response = await client.request(method, url, **kwargs)
                if response.status_code == 401:
                    await client.refresh_token(self.token_endpoint)
                    response = await client.request(method, url, **kwargs)
        except OAuthError:  # invalid_grant from the token endpoint, or no refresh token
            raise LoginRequired from None
        if response.status_code == 401:
            raise LoginRequired
        return response

    def _client(self) -> AsyncOAuth2Client:
        assert self.settings.client_secret is not None  # noqa: S101 - checked at start-up
        return AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret.get_secret_value(),
            token=self.session["token"],
            token_endpoint=self.token_endpoint,
            update_token=self._keep_token,
            **self.http,
        )

    async def _keep_token(self, token: dict[str, Any], **_: Any) -> None:
        # A refresh response may omit the ID token; keep ours for the logout hint.
        previous = self.session.get("token", {})
        self.session["token"] = {"id_token": previous.get("id_token"), **token}
