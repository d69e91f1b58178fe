"""The auth service's ASGI app: `uvicorn auth_service.main:create_app --factory`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from auth_service.audit import AuditBuffer
from auth_service.clients.cache import ClientCache
from auth_service.clients.keys import ClientKeyFetcher
from auth_service.clients.metadata_documents import CachePolicy, MetadataDocumentFetcher
from auth_service.config import AuthSettings, get_settings
from auth_service.identity.brokering.upstream_client import UpstreamClient
from auth_service.mail.outbox import Outbox
from auth_service.mail.sender import MailSender
from auth_service.mail.smtp import SmtpServer
from auth_service.oauth.authorize.request import AuthorizationPageError, AuthorizationRedirectError
from auth_service.oauth.dpop import DpopPolicy
from auth_service.oauth.grants import build_grants
from auth_service.oauth.grants.base import GrantServices
from auth_service.oauth.introspection import ActiveAccessTokens, IntrospectionState
from auth_service.oauth.tokens import TokenMinter, TokenPolicy
from auth_service.operations.key_lifecycle import KeyStore, ensure_signing_key
from auth_service.operations.maintenance import Maintenance
from auth_service.repositories.signing_keys import SigningKeyRepository
from auth_service.resource_servers.cache import ResourceServerCache
from auth_service.revocations.mirror import RevocationMirror
from auth_service.revocations.notifier import RevocationNotifier
from auth_service.routes import api_router
from auth_service.security.device_cookies import DeviceCookies
from auth_service.security.egress import parse_deny_hosts
from auth_service.security.jti_batch import DatabaseJtiBatch
from auth_service.security.keys import KeySet
from auth_service.security.passwords import PasswordHasher
from auth_service.security.secret_box import SecretBox
from auth_service.throttling.counters import make_counter_store
from auth_service.throttling.policy import Throttle
from auth_service.web.error_handlers import render_failure
from auth_service.web.front_channel import (
    authorization_page_error_handler,
    authorization_redirect_error_handler,
    login_required_handler,
)
from auth_service.web.pages import LoginRequired, make_templates
from auth_service.web.security_headers import SecurityHeadersMiddleware
from shared.api_docs import install_api_docs
from shared.body_limit import BodySizeLimitMiddleware
from shared.database import make_engine, make_sessionmaker
from shared.dpop import DpopNonces
from shared.errors import OAuthError
from shared.failures import CatchAllMiddleware, install_failure_handlers
from shared.input_guard import MalformedInputMiddleware
from shared.observability.health import operations_router
from shared.observability.logs import configure_logging
from shared.observability.metrics import Metrics
from shared.observability.metrics_listener import start_metrics_listener
from shared.observability.request_context import RequestContextMiddleware
from shared.observability.tracing import Tracing
from shared.replay import RedisReplayGuard
from shared.revocations import RevocationList, revocation_channel

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: AuthSettings | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    tracing: Tracing | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    tracing = tracing or Tracing.from_settings(
        "auth_service",
        endpoint=settings.otel_endpoint,
        traces_endpoint=settings.otel_traces_endpoint,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )
        revocations = RevocationList(clock=lambda: clock().timestamp())
        channel = revocation_channel(settings.issuer)
        notifier = RevocationNotifier(settings.redis_url, local=revocations, channel=channel)
        sessionmaker = make_sessionmaker(engine, listeners=notifier.listeners())
        tracing.start(engine, redis=bool(settings.redis_url))
        mirror = RevocationMirror(
            revocations,
            sessionmaker,
            clock,
            poll_interval=settings.revocation_sync_interval,
            redis_url=settings.redis_url,
            channel=channel,
            # Read at each event: tests (and nothing else) may swap the cache after start-up.
            on_client_change=lambda client_id: app.state.client_cache.invalidate(client_id),
            on_resource_server_change=lambda: app.state.resource_server_cache.clear(),
        )
        async with sessionmaker() as session:
            for alg in settings.signing_algs:  # one key per algorithm (README "Signing algorithms")
                await ensure_signing_key(
                    SigningKeyRepository(session), settings.key_dir, alg=alg, now=clock()
                )
            await session.commit()
        key_store = KeyStore(KeySet([]), clock)
        app.state.secret_box = SecretBox.load_or_create(settings.key_dir)
        deny_hosts = parse_deny_hosts(settings.client_metadata_deny_hosts)
        app.state.client_keys = ClientKeyFetcher(
            ttl=settings.client_jwks_ttl,
            refetch_interval=settings.client_jwks_refetch_interval,
            timeout=settings.client_jwks_timeout,
            max_bytes=settings.client_jwks_max_bytes,
            development=settings.relaxed_egress,
            deny_hosts=deny_hosts,
        )
        app.state.client_documents = MetadataDocumentFetcher(
            timeout=settings.client_metadata_timeout,
            max_bytes=settings.client_metadata_max_bytes,
            cache=CachePolicy(
                floor=timedelta(seconds=settings.client_metadata_min_ttl),
                ceiling=timedelta(seconds=settings.client_metadata_max_ttl),
            ),
            development=settings.relaxed_egress,
            clock=clock,
            failure_ttl=timedelta(seconds=settings.client_metadata_failure_ttl),
            deny_hosts=deny_hosts,
        )
        app.state.device_cookies = DeviceCookies(
            app.state.secret_box.derive_key("device cookies"), max_age=settings.device_cookie_ttl
        )
        app.state.dpop = _dpop_policy(settings, app.state.secret_box)
        app.state.upstream_client = UpstreamClient(
            allow_http=settings.relaxed_egress, leeway=settings.leeway
        )
        maintenance = Maintenance(settings, sessionmaker, key_store, clock)
        await maintenance.reload_keys()  # reads every private key once
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker
        if not settings.redis_url:
            app.state.replay_guard = DatabaseJtiBatch(engine, clock)
        app.state.key_store = key_store
        app.state.maintenance = maintenance
        app.state.revocation_notifier = notifier
        app.state.minter = TokenMinter(_token_policy(settings), key_store.current)
        maintenance.start()
        await mirror.start()
        # Past this age (several failed reads in a row) introspection asks the database itself.
        app.state.introspection = IntrospectionState(
            mirror,
            max_staleness=max(5.0, 3 * settings.revocation_sync_interval),
            document_clients=settings.client_metadata_documents_enabled,
        )
        app.state.access_tokens = ActiveAccessTokens(
            app.state.introspection,
            key_store,
            issuer=settings.issuer,
            audience=settings.resource_audience,
        )
        app.state.audit_buffer = AuditBuffer(sessionmaker)
        app.state.audit_buffer.start()
        mail_sender = _mail_sender(settings, sessionmaker, app.state.secret_box, clock)
        app.state.mail_sender = mail_sender
        if mail_sender is not None:
            app.state.outbox = mail_sender.outbox
            mail_sender.start()
        metrics_listener = start_metrics_listener(
            app.state.metrics, host=settings.metrics_host, port=settings.metrics_port
        )
        logger.info(
            "auth service ready",
            extra={"fields": {"issuer": settings.issuer, "kids": key_store.current().kids}},
        )
        try:
            yield
        finally:
            if mail_sender is not None:
                await mail_sender.stop()
            await app.state.audit_buffer.stop()
            await metrics_listener.aclose()
            await maintenance.stop()
            await mirror.aclose()
            await notifier.aclose()
            await app.state.throttle.store.aclose()
            await app.state.client_keys.aclose()
            await app.state.client_documents.aclose()
            await app.state.upstream_client.aclose()
            if app.state.replay_guard is not None:
                await app.state.replay_guard.aclose()
            await engine.dispose()
            tracing.stop()

    app = FastAPI(
        title="MyAuthProvider authorization server",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app, app.title)
    app.state.settings = settings
    app.state.clock = clock
    app.state.outbox = None  # an Outbox once started, when AUTH_SMTP_URL names a server
    app.state.metrics = Metrics("auth_service")
    app.state.templates = make_templates()
    app.state.client_cache = ClientCache(ttl=settings.client_cache_ttl)
    # Same lifetime and notices as the client cache (README "Client changes ...").
    app.state.resource_server_cache = ResourceServerCache(ttl=settings.client_cache_ttl)
    app.state.throttle = Throttle(
        make_counter_store(settings.redis_url), settings.throttle_policy()
    )
    if settings.is_development and not settings.relaxed_egress:
        logger.warning(
            "AUTH_ENVIRONMENT=development with the non-local issuer %s: client metadata "
            "documents and jwks_uri are fetched under production's rules (https, port 443, "
            "global addresses only); set AUTH_ENVIRONMENT=production for a real deployment",
            settings.issuer,
        )
    if not settings.is_development and not settings.rate_limits_enabled:
        # Not refused (a closed deployment may throttle at its proxy), but the device grant is
        # always there: wrong user codes at /device are then bounded by nothing (RFC 8628 §5.1).
        logger.warning(
            "AUTH_RATE_LIMITS_ENABLED=false in production: sign-in, client authentication and "
            "/device user-code guessing are not throttled; throttle in front of the service"
        )
    # Single-use jtis (DPoP proofs, client assertions): Redis when configured, else the database
    # in batches (set with the sessionmaker at start-up; security.jti_batch).
    app.state.replay_guard = RedisReplayGuard(settings.redis_url) if settings.redis_url else None
    app.state.password_hasher = PasswordHasher(
        time_cost=settings.password_time_cost,
        memory_kib=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
        concurrency=settings.password_hash_concurrency,
        max_waiting=settings.password_hash_queue,
    )
    app.state.grants = build_grants(
        GrantServices(
            hasher=app.state.password_hasher,
            throttle=app.state.throttle,
            refresh_token_reuse_grace=settings.refresh_token_reuse_grace,
            access_tokens=lambda: app.state.access_tokens,
        )
    )
    app.include_router(api_router)
    app.include_router(operations_router(public_metrics=settings.metrics_port is None))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(OAuthError, _render_oauth_error)
    app.add_exception_handler(AuthorizationPageError, authorization_page_error_handler)
    app.add_exception_handler(AuthorizationRedirectError, authorization_redirect_error_handler)
    app.add_exception_handler(LoginRequired, login_required_handler)
    install_failure_handlers(app, render_failure)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside the body limit (which answers 413 itself), inside the headers and request id.
    app.add_middleware(CatchAllMiddleware, render=render_failure)
    app.add_middleware(MalformedInputMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    tracing.instrument_app(app)
    return app


async def _render_oauth_error(request: Request, exc: Exception) -> Response:
    """Protocol errors: JSON on back-channel endpoints, our HTML error page on the user's pages."""
    assert isinstance(exc, OAuthError)  # noqa: S101 - registered for OAuthError only
    return render_failure(request, exc)


def _mail_sender(
    settings: AuthSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    box: SecretBox,
    clock: Callable[[], datetime],
) -> MailSender | None:
    if not settings.smtp_url:
        return None
    server = SmtpServer.parse(
        settings.smtp_url, start_tls=settings.smtp_starttls, username=settings.smtp_username,
        password=settings.smtp_password, timeout=settings.smtp_timeout,
    )  # fmt: skip
    return MailSender(
        sessionmaker, Outbox(box), server, sender=settings.mail_from,
        max_attempts=settings.mail_max_attempts, poll_interval=settings.mail_poll_interval,
        clock=clock,
    )  # fmt: skip


def _dpop_policy(settings: AuthSettings, secret_box: SecretBox) -> DpopPolicy:
    nonces = None
    if settings.dpop_nonce_required:
        # RFC 9449 §8: stateless nonces, so every instance sharing the key directory accepts them.
        key = secret_box.derive_key("dpop nonces")
        nonces = DpopNonces(key, lifetime=settings.dpop_nonce_lifetime)
    return DpopPolicy(window=settings.dpop_proof_window, nonces=nonces)


def _token_policy(settings: AuthSettings) -> TokenPolicy:
    return TokenPolicy(
        issuer=settings.issuer,
        audience=settings.resource_audience,
        access_token_ttl=settings.access_token_ttl,
        id_token_ttl=settings.id_token_ttl,
        refresh_token_ttl=settings.refresh_token_ttl,
        refresh_token_idle_ttl=settings.refresh_token_idle_ttl,
        signing_alg=settings.signing_alg,
        signing_algs=settings.signing_algs,
    )
