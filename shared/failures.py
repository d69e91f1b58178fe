"""Failures that are not protocol errors: a database outage is a fast 503, anything else a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from shared.asgi import ASGIApp, Message, Receive, Scope, Send
from shared.errors import OAuthError, ServerError, TemporarilyUnavailableError, oauth_error_response

logger = logging.getLogger(__name__)

Renderer = Callable[[Request, OAuthError], Response]

DATABASE_OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    ConnectionError,
    TimeoutError,
)
# PostgreSQL SQLSTATEs (Appendix A) that say the server cannot be used right now, not that the
# statement is wrong: class 08 (connection exception), 57P01-57P03 (shutting down, crashed,
# starting up) and 53300 (too many connections). asyncpg raises these as plain PostgresErrors,
# which SQLAlchemy wraps in a bare DBAPIError without marking the connection invalidated.
OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def is_database_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database is unreachable for now: a 503, and worth a retry."""
    if isinstance(exc, DATABASE_OUTAGE_ERRORS):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # The driver's own exception, wrapped by SQLAlchemy or not, carries the SQLSTATE.
    sqlstate = getattr(exc.orig if isinstance(exc, DBAPIError) else exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(OUTAGE_SQLSTATES)


def _json(request: Request, error: OAuthError) -> Response:
    return oauth_error_response(error)


def failure_response(request: Request, exc: Exception, render: Renderer) -> Response:
    """A database outage is a 503 with Retry-After; anything else a 500 that reveals nothing."""
    if is_database_outage(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        return render(
            request, TemporarilyUnavailableError("the database is unavailable, retry shortly")
        )
    # Logged with its traceback; the body says nothing about internals.
    logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return render(request, ServerError())


def install_failure_handlers(app: Starlette, render: Renderer = _json) -> None:
    """Database errors, wherever raised, get their answer from the app's exception handlers."""

    async def handle(request: Request, exc: Exception) -> Response:
        return failure_response(request, exc, render)

    for exc_type in (*DATABASE_OUTAGE_ERRORS, DBAPIError):
        app.add_exception_handler(exc_type, handle)


class CatchAllMiddleware:
    """Any other exception becomes the rendered 500 here, inside the app's other middlewares.

    Starlette's own catch-all runs outside every middleware, so its answer would miss the
    security headers and the request id; this one is added right after the body-size limit.
    """

    def __init__(self, app: ASGIApp, render: Renderer = _json) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise  # too late to answer differently; the server closes the connection
            response = failure_response(Request(scope), exc, self.render)
            await response(scope, receive, send)
