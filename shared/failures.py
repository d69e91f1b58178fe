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


def install_failure_handlers(app: Starlette, render: Renderer = _json) -> None:
    """Register the outage and catch-all handlers; `render` decides JSON or HTML per request."""

    async def handle(request: Request, exc: Exception) -> Response:
        if is_database_outage(exc):
            logger.warning("database unavailable: %s", type(exc).__name__)
            return render(
                request, TemporarilyUnavailableError("the database is unavailable, retry shortly")
            )
        # Logged with its traceback; the body says nothing about internals.
        logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return render(request, ServerError())

    # Database errors are handled inside the middleware stack; the catch-all (Starlette runs it
    # outermost) still tells a driver error SQLAlchemy did not wrap from a bug.
    for exc_type in (*DATABASE_OUTAGE_ERRORS, DBAPIError, Exception):
        app.add_exception_handler(exc_type, handle)
