"""MyAuthProvider as an OpenID Connect provider, configured for Authlib from its discovery document.

Everything protocol-related is Authlib's: the authorization URL with `state`, PKCE (S256) and
`nonce`; the code exchange; ID token validation against the provider's JWKS; userinfo; the
end-session URL. This module only says who we are and where the provider is.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.starlette_client import OAuth

from coolnotes.config import CoolNotesSettings
from coolnotes.http import httpx

PROVIDER = "myauth"
# What CoolNotesApp asks for, and nothing more: who you are, your name, your notes, and
# offline_access for a refresh token (the user is not present when an access token expires).
SCOPE = "openid profile read:notes write:notes offline_access"


def http_options(settings: CoolNotesSettings) -> dict[str, Any]:
    """httpx options for every call to the provider: a timeout, and the back-channel address."""
    options: dict[str, Any] = {"timeout": settings.http_timeout}
    if settings.issuer_internal_url is not None:
        options["event_hooks"] = {
            "request": [_back_channel(settings.issuer, settings.issuer_internal_url)]
        }
    return options


def make_oauth(settings: CoolNotesSettings) -> OAuth:
    assert settings.client_secret is not None  # noqa: S101 - the settings refuse to start without
    oauth = OAuth()
    oauth.register(
        PROVIDER,
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
        server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",  # RFC 7636; the provider refuses `plain`
            "token_endpoint_auth_method": "client_secret_basic",
            **http_options(settings),
        },
    )
    return oauth


def _back_channel(public: str, internal: str) -> Any:
    """An httpx request hook sending requests for the public issuer origin to `internal`.

    In docker compose the browser reaches the provider at http://localhost:8000 and this
    container at http://auth:8000. The discovery document names public URLs (the issuer, and
    the `iss` we check, must be the one the browser sees), so back-channel calls are re-routed.
    """
    public_url, internal_url = httpx.URL(public), httpx.URL(internal)

    async def reroute(request: httpx.Request) -> None:
        url = request.url
        if (url.scheme, url.host, url.port) == (
            public_url.scheme,
            public_url.host,
            public_url.port,
        ):
            request.url = url.copy_with(
                scheme=internal_url.scheme, host=internal_url.host, port=internal_url.port
            )

    return reroute
