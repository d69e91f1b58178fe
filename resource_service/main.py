"""The resource service's ASGI app: `uvicorn resource_service.main:create_app --factory`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from resource_service.account_deletion import user_data_deleter
from resource_service.config import ResourceSettings, get_settings
from resource_service.mcp_server.endpoint import MCP_PATH, McpEndpoint
from resource_service.mcp_server.tools import TOOL_SCOPES, build_notes_server
from resource_service.profiles import ProfileCache
from resource_service.protected_resource import (
    metadata_url,
    protected_resource_metadata,
    required_scopes,
)
from resource_service.routes import ROUTERS, api_router
from shared.api_docs import install_api_docs
from shared.body_limit import BodySizeLimitMiddleware
from shared.database import make_engine, make_sessionmaker
from shared.dpop import DpopNonces, DpopProofChecker
from shared.errors import OAuthError, oauth_error_handler
from shared.failures import CatchAllMiddleware, install_failure_handlers
from shared.input_guard import MalformedInputMiddleware
from shared.jwks import JwksCache
from shared.observability.health import operations_router
from shared.observability.logs import configure_logging
from shared.observability.metrics import Metrics
from shared.observability.metrics_listener import start_metrics_listener
from shared.observability.request_context import RequestContextMiddleware
from shared.observability.tracing import Tracing
from shared.replay import make_replay_guard
from shared.revocations import RevocationFeed, RevocationList, revocation_channel
from shared.token_cache import VerifiedTokenCache

logger = logging.getLogger(__name__)


def warn_if_mcp_cannot_use(audience: str, public_url: str) -> None:
    """MCP clients take the metadata's `resource` (our audience) only if it is the server URL
    or a parent of it (MCP authorization 2025-11-25, "Canonical Server URI"; RFC 8707 §2), and
    otherwise send the /mcp URL itself as `resource`, for which no token is minted here."""
    base = audience.rstrip("/")
    mcp_url = f"{public_url}{MCP_PATH}"
    if not mcp_url.startswith(base + "/"):
        logger.warning(
            "RESOURCE_AUDIENCE %s is not a prefix of the MCP endpoint %s: MCP clients will ask "
            "for tokens for the endpoint itself; set RESOURCE_PUBLIC_URL or the audience to the "
            "API's public URL",
            audience,
            mcp_url,
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


async def validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 with the field errors, minus the echoed input: it may not even be encodable."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    detail = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def _dpop_checker(settings: ResourceSettings) -> DpopProofChecker:
    """RFC 9449 §11.1: proofs' jtis in Redis when configured (every instance), else in memory
    (this process only); nonces (§9) only when a secret shared by all instances is set."""
    nonces = None
    if settings.dpop_nonce_secret:
        key = hashlib.sha256(
            b"myauth dpop nonces\x00" + settings.dpop_nonce_secret.encode()
        ).digest()
        nonces = DpopNonces(key, lifetime=settings.dpop_nonce_lifetime)
    return DpopProofChecker(
        make_replay_guard(settings.redis_url), window=settings.dpop_proof_window, nonces=nonces
    )


def _mcp_sessions() -> StreamableHTTPSessionManager:
    """A new MCP session manager (each runs once, so one per lifespan). Stateless, JSON
    responses: see resource_service.mcp_server.endpoint. The SDK's Host/Origin checks stay off:
    the endpoint checks Origin against our public URL itself, and Host varies behind proxies."""
    server = build_notes_server()
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return server.session_manager


def create_app(
    settings: ResourceSettings | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    http_client: httpx.AsyncClient | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    """`http_client` lets tests route JWKS fetches to an in-process auth app."""
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    tracing = tracing or Tracing.from_settings(
        "resource_service",
        endpoint=settings.otel_endpoint,
        traces_endpoint=settings.otel_traces_endpoint,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            sqlite_begin_immediate=False,
        )
        tracing.start(engine, redis=bool(settings.redis_url))  # before the httpx client is made
        http = http_client or httpx.AsyncClient(follow_redirects=False)
        jwks = JwksCache(
            http,
            issuer=settings.issuer,
            jwks_url=settings.jwks_url,
            discovery_url=settings.discovery_url,
            default_ttl=settings.jwks_default_ttl,
            refetch_interval=settings.jwks_refetch_interval,
            timeout=settings.jwks_timeout,
            on_refresh=lambda ok: app.state.metrics.jwks_refreshes.labels(
                "ok" if ok else "failed"
            ).inc(),
        )
        revocations = RevocationList()
        sessionmaker = make_sessionmaker(engine)
        feed = RevocationFeed(
            http,
            revocations,
            feed_url=settings.revocation_feed_url or f"{settings.issuer}/oauth/revocations",
            poll_interval=settings.revocation_poll_interval,
            timeout=settings.jwks_timeout,
            redis_url=settings.redis_url,
            channel=revocation_channel(settings.issuer),
            feed_token=settings.revocation_feed_token,
            on_subject_deleted=user_data_deleter(sessionmaker),
            on_propagated=app.state.metrics.revocation_propagation.observe,
        )
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker
        app.state.profiles = ProfileCache(
            app.state.sessionmaker,
            ttl=settings.profile_cache_ttl,
            stale_for=settings.profile_stale_for,
        )
        app.state.jwks = jwks
        app.state.revocations = revocations
        app.state.revocation_feed = feed
        # Warm the caches; if the issuer is down we start anyway and keep trying.
        await jwks.refresh()
        await feed.start()
        metrics_listener = start_metrics_listener(
            app.state.metrics, host=settings.metrics_host, port=settings.metrics_port
        )
        mcp_sessions = _mcp_sessions()
        app.state.mcp_sessions = mcp_sessions
        try:
            async with mcp_sessions.run():
                yield
        finally:
            await metrics_listener.aclose()
            await feed.aclose()
            await jwks.aclose()
            await app.state.dpop.guard.aclose()
            if http_client is None:
                await http.aclose()
            await engine.dispose()
            tracing.stop()

    app = FastAPI(
        title="MyAuthProvider resource API",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app, app.title)
    app.state.settings = settings
    app.state.clock = clock
    app.state.metrics = Metrics("resource_service")
    app.state.verified_tokens = VerifiedTokenCache(settings.verified_token_cache_size)
    app.state.public_url = (settings.public_url or settings.audience).rstrip("/")
    warn_if_mcp_cannot_use(settings.audience, app.state.public_url)
    app.state.dpop = _dpop_checker(settings)
    app.include_router(api_router)
    app.include_router(operations_router(public_metrics=settings.metrics_port is None))
    app.router.routes.append(Route(MCP_PATH, McpEndpoint()))
    app.state.resource_metadata_url = metadata_url(app.state.public_url)
    app.state.protected_resource_metadata = protected_resource_metadata(
        resource=settings.audience,
        issuer=settings.issuer,
        scopes=required_scopes(r for router in ROUTERS for r in router.routes).union(
            *TOOL_SCOPES.values()
        ),
        dpop_algs=app.state.dpop.algorithms,
        name=app.title,
    )
    app.add_exception_handler(OAuthError, oauth_error_handler)
    install_failure_handlers(app)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside the body limit (which answers 413 itself), inside the headers and request id.
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(MalformedInputMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    tracing.instrument_app(app)
    return app
