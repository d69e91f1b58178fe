"""CoolNotesApp's ASGI app: `uvicorn coolnotes.app:create_app --factory` (from examples/coolnotes)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from coolnotes.config import CoolNotesSettings, get_settings
from coolnotes.http import httpx
from coolnotes.notes_api import LoginRequired
from coolnotes.provider import PROVIDER, make_oauth
from coolnotes.routes import redirect, render, router
from coolnotes.sessions import MemorySessionStore, ServerSessionMiddleware, Session

HERE = Path(__file__).parent
logger = logging.getLogger(__name__)


def create_app(
    settings: CoolNotesSettings | None = None, *, sessions: MemorySessionStore | None = None
) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="CoolNotesApp", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.provider = make_oauth(settings).create_client(PROVIDER)
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates.env.autoescape = True
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(LoginRequired, _login_again)
    app.add_exception_handler(httpx.HTTPError, _unavailable)
    app.middleware("http")(_security_headers(settings))
    app.add_middleware(
        ServerSessionMiddleware,
        store=sessions or MemorySessionStore(settings.session_ttl),
        secure=settings.cookie_secure,
    )
    return app


async def _login_again(request: Request, _: Exception) -> Response:
    """Our tokens were refused: forget them and ask the user to sign in again."""
    session: Session = request.session  # type: ignore[assignment]
    session.clear()
    return redirect("/?notice=login-again")


async def _unavailable(request: Request, error: Exception) -> Response:
    # The URL and status say what failed; tokens travel in headers and bodies, never logged.
    target = error.request.url if isinstance(error, httpx.HTTPError) else "?"
    status = error.response.status_code if isinstance(error, httpx.HTTPStatusError) else "-"
    logger.warning("back-channel call failed: %s %s %s", type(error).__name__, status, target)
    context = {
        "title": "Unavailable · CoolNotesApp",
        "message": "Your notes cannot be reached right now. Please try again in a moment.",
    }
    return render(request, "error.html", context, status=503)


Handler = Callable[[Request], Awaitable[Response]]


def _security_headers(
    settings: CoolNotesSettings,
) -> Callable[[Request, Handler], Awaitable[Response]]:
    issuer = urlsplit(settings.issuer)
    # No script at all; forms post here, and logout's redirect goes on to the provider.
    policy = (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        f"form-action 'self' {issuer.scheme}://{issuer.netloc}; frame-ancestors 'none'"
    )

    async def add_headers(request: Request, call_next: Handler) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # The callback URL carries the authorization code: never send it on as a Referer.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return add_headers
