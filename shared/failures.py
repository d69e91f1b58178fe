"""Failures that are not protocol errors: a database outage is a fast 503, anything else a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

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


def _json(request: Request, error: OAuthError) -> Response:
    return oauth_error_response(error)


def install_failure_handlers(app: Starlette, render: Renderer = _json) -> None:
    """Register the outage and catch-all handlers; `render` decides JSON or HTML per request."""

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError | InterfaceError):
            if not exc.connection_invalidated:
                return await unexpected_error(request, exc)
        logger.warning("database unavailable: %s", type(exc).__name__)
        return render(
            request, TemporarilyUnavailableError("the database is unavailable, retry shortly")
        )

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        # Logged with its traceback; the body says nothing about internals.
        logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return render(request, ServerError())

    for exc_type in (*DATABASE_OUTAGE_ERRORS, DBAPIError):
        app.add_exception_handler(exc_type, database_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
