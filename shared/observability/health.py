"""Operations routes both services serve: `/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.observability.metrics import metrics_endpoint


async def healthz_endpoint(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz_endpoint(request: Request) -> Response:
    """Readiness: the database (`app.state.engine`) answers within two seconds."""
    try:
        async with asyncio.timeout(2):
            async with request.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    return JSONResponse({"status": "ok", "database": "ok"})


def operations_router(*, public_metrics: bool = True) -> APIRouter:
    """/healthz, /readyz and /metrics, the same for both services; without `public_metrics`
    /metrics is left to an internal listener (see MetricsListener) and is a 404 here."""
    router = APIRouter(tags=["operations"])
    router.add_api_route("/healthz", healthz_endpoint, methods=["GET"])
    router.add_api_route("/readyz", readyz_endpoint, methods=["GET"])
    if public_metrics:
        router.add_api_route("/metrics", metrics_endpoint, methods=["GET"], response_class=Response)
    return router
