"""Resource service settings, read from `RESOURCE_*` environment variables (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.tokens import MAX_LEEWAY

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/myauth.db"


class ResourceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RESOURCE_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    # The `iss` we trust, exactly as the auth service's AUTH_ISSUER.
    issuer: str = "http://127.0.0.1:8000"
    # Our own identifier: the `aud` tokens must carry (RFC 9068 §4).
    audience: str = "http://127.0.0.1:8001"
    # Where to fetch keys; by default the jwks_uri of {issuer}/.well-known/openid-configuration.
    # Set it when the issuer's public URL is not reachable from here (e.g. inside compose).
    jwks_url: str | None = None
    discovery_url: str | None = None
    jwks_default_ttl: float = Field(default=300, gt=0)
    jwks_refetch_interval: float = Field(default=10, gt=0)
    jwks_timeout: float = Field(default=2.0, gt=0)
    leeway: int = Field(default=30, ge=0, le=MAX_LEEWAY)
    # The issuer's revocation feed; by default {issuer}/oauth/revocations.
    revocation_feed_url: str | None = None
    # How often the feed is polled; with Redis, announcements make it near-immediate.
    revocation_poll_interval: float = Field(default=2.0, gt=0)
    # The issuer's AUTH_REVOCATION_FEED_TOKEN, when it requires one for its feed.
    revocation_feed_token: str | None = None
    # When set, /metrics is served only on this port of metrics_host (404 on the public one).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # Allow http for the URLs above in production, on a network only the services can reach.
    trust_internal_http: bool = False
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RESOURCE_REDIS_URL", "REDIS_URL")
    )
    # OpenTelemetry (README "Traces"): the standard variables; unset, tracing is off.
    otel_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    otel_traces_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("RESOURCE_DATABASE_URL", "DATABASE_URL"),
    )
    # The base URL clients use to reach this API (behind a proxy, its public URL); DPoP proofs'
    # htu is checked against it plus the request path (RFC 9449 §4.3). Default: the audience.
    public_url: str | None = None
    # DPoP proofs' iat may differ from our clock by this many seconds (RFC 9449 §4.3 item 11).
    dpop_proof_window: int = Field(default=60, ge=5, le=600)
    # When set, proofs must carry a server nonce (RFC 9449 §9), an HMAC under this secret (all
    # instances share it); unset, this API asks for no nonces.
    dpop_nonce_secret: str | None = Field(default=None, min_length=32)
    dpop_nonce_lifetime: int = Field(default=300, ge=30, le=3600)
    # Tokens already verified are remembered (by the whole token string) up to this many.
    verified_token_cache_size: int = Field(default=10_000, ge=0)
    # User profiles are cached this long, and served up to profile_stale_for during a DB outage.
    profile_cache_ttl: float = Field(default=30, ge=0)
    profile_stale_for: float = Field(default=3600, ge=0)
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias=AliasChoices("RESOURCE_LOG_FORMAT", "LOG_FORMAT")
    )
    log_level: str = "INFO"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8001
    # Addresses or networks of reverse proxies whose X-Forwarded-For/-Proto headers are believed
    # (comma-separated; "*" is refused). Unset: the headers are ignored, so nobody can pick the
    # address that logs and audit records see.
    forwarded_allow_ips: str | None = None

    @model_validator(mode="after")
    def _refuse_insecure_values(self) -> ResourceSettings:
        self.issuer = self.issuer.rstrip("/")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("RESOURCE_TLS_CERT and RESOURCE_TLS_KEY must be set together")
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("RESOURCE_METRICS_PORT must differ from RESOURCE_PORT")
        if self.forwarded_allow_ips and "*" in (
            item.strip() for item in self.forwarded_allow_ips.split(",")
        ):
            # uvicorn would then take X-Forwarded-For from anyone (as for the auth service).
            raise ValueError(
                "RESOURCE_FORWARDED_ALLOW_IPS=* would believe any client's X-Forwarded-For; "
                "name your reverse proxies' addresses or networks instead"
            )
        if self.environment == "production":
            if not self.issuer.startswith("https://"):
                raise ValueError(
                    "RESOURCE_ISSUER must use https when RESOURCE_ENVIRONMENT=production"
                )
            # Whoever can answer these URLs decides which tokens this API accepts and which
            # revocations it hears of: over plain http, anyone on the network path can.
            for name in ("jwks_url", "discovery_url", "revocation_feed_url"):
                url = getattr(self, name)
                if url and not url.startswith("https://") and not self.trust_internal_http:
                    raise ValueError(
                        f"RESOURCE_{name.upper()} must use https in production "
                        "(or set RESOURCE_TRUST_INTERNAL_HTTP=true for a private network)"
                    )
        return self


@lru_cache
def get_settings() -> ResourceSettings:
    return ResourceSettings()
