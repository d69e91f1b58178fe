"""The access log: one line per request, and machines' routine polls only at DEBUG."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shared.observability.logs import configure_logging
from shared.observability.metrics import Metrics
from shared.observability.request_context import RequestContextMiddleware


def _app(status: int) -> Starlette:
    async def answer(_: object) -> PlainTextResponse:
        return PlainTextResponse("x", status_code=status)

    paths = ["/healthz", "/oauth/revocations", "/oauth/token"]
    app = Starlette(routes=[Route(path, answer) for path in paths])
    app.add_middleware(RequestContextMiddleware, metrics=Metrics("test"))
    return app


async def _levels(app: Starlette, path: str, caplog: pytest.LogCaptureFixture) -> list[int]:
    caplog.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get(path + "?since=secret-looking")
    return [r.levelno for r in caplog.records if r.name == "access"]


async def test_access_log_puts_successful_polls_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="access")
    ok = _app(200)
    assert await _levels(ok, "/healthz", caplog) == [logging.DEBUG]
    assert await _levels(ok, "/oauth/revocations", caplog) == [logging.DEBUG]
    assert await _levels(ok, "/oauth/token", caplog) == [logging.INFO]
    assert "secret-looking" not in caplog.text  # the path only, never the query


async def test_access_log_keeps_failed_polls_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="access")
    assert await _levels(_app(429), "/oauth/revocations", caplog) == [logging.INFO]
    assert await _levels(_app(503), "/healthz", caplog) == [logging.INFO]


def test_access_log_quietens_httpx_unless_debugging() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("httpx").level
    try:
        configure_logging("text", "INFO")
        assert logging.getLogger("httpx").level == logging.WARNING
        configure_logging("text", "DEBUG")
        assert logging.getLogger("httpx").level == logging.DEBUG
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        logging.getLogger("httpx").setLevel(saved[2])
