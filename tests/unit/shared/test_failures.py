"""Which database failures are outages (503, retry) and which are bugs (500)."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from shared.failures import is_database_outage


def wrapped(error: Exception) -> DBAPIError:
    """What SQLAlchemy's asyncpg dialect raises for a PostgresError it has no class for."""
    adapted = AsyncAdapt_asyncpg_dbapi.Error(str(error), error)  # type: ignore[no-untyped-call]
    return DBAPIError("SELECT 1", None, adapted)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError(
            "terminating connection due to administrator command"
        ),
        asyncpg.exceptions.CrashShutdownError("terminating connection because of crash"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),
    ],
)
def test_failures_server_restarts_and_connection_errors_are_outages(error: Exception) -> None:
    assert is_database_outage(wrapped(error))
    assert is_database_outage(error)  # also when the driver's error arrives unwrapped


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UndefinedTableError('relation "nope" does not exist'),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        RuntimeError("a bug"),
    ],
)
def test_failures_statement_errors_and_bugs_are_not_outages(error: Exception) -> None:
    assert not is_database_outage(wrapped(error))
    assert not is_database_outage(error)
