"""Auth service settings, read from `AUTH_*` environment variables (and `.env`), validated at start-up."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from auth_service.mail.smtp import SmtpServer
from auth_service.throttling.policy import Backoff, ThrottlePolicy, Window
from shared.tokens import MAX_LEEWAY

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/myauth.db"


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTH_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    # The issuer identifier (RFC 8414 §2): the public base URL, no query, no fragment.
    issuer: str = "http://127.0.0.1:8000"
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("AUTH_DATABASE_URL", "DATABASE_URL"),
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    key_dir: Path = Path("var/keys")
    # Signing algorithms (README "Signing algorithms"): one key each, generated on first start,
    # rotated together and published with its `alg` (RFC 7517 §4.4). AUTH_SIGNING_ALG signs the
    # tokens of clients that registered no id_token_signed_response_alg.
    signing_alg: Literal["RS256", "PS256", "ES256", "EdDSA"] = "RS256"
    signing_algs: Annotated[tuple[Literal["RS256", "PS256", "ES256", "EdDSA"], ...], NoDecode] = (
        "RS256",
        "PS256",
        "ES256",
        "EdDSA",
    )

    @field_validator("signing_algs", mode="before")
    @classmethod
    def _split_signing_algs(cls, value: object) -> object:
        if isinstance(value, str):  # AUTH_SIGNING_ALGS=RS256,ES256
            value = [item.strip() for item in value.split(",") if item.strip()]
        return tuple(dict.fromkeys(value)) if isinstance(value, list | tuple) else value

    @model_validator(mode="after")
    def _default_alg_is_held(self) -> AuthSettings:
        if self.signing_alg not in self.signing_algs:
            raise ValueError("AUTH_SIGNING_ALG must be one of AUTH_SIGNING_ALGS")
        return self

    # The default `aud` of access tokens: the resource service's base URL.
    resource_audience: str = "http://127.0.0.1:8001"

    access_token_ttl: int = Field(default=900, ge=30, le=86400)
    id_token_ttl: int = Field(default=3600, ge=30, le=86400)
    authorization_code_ttl: int = Field(default=60, ge=10, le=600)
    refresh_token_ttl: int = Field(default=30 * 86400, ge=60)
    refresh_token_idle_ttl: int = Field(default=14 * 86400, ge=60)
    pending_request_ttl: int = Field(default=600, ge=60)
    session_ttl: int = Field(default=12 * 3600, ge=300)
    # Pushed authorization requests (RFC 9126): how long a request_uri is accepted at
    # /oauth/authorize (section 2.2: short-lived; we cap it at 600 s), and whether every client
    # must push its authorization requests (section 5, require_pushed_authorization_requests).
    par_lifetime: int = Field(default=60, ge=5, le=600)
    require_par: bool = False
    # Device authorization (RFC 8628): how long a device code and its user code live (§3.2
    # expires_in), and the polling interval a device is given (§3.2 interval; 5 s is the RFC's
    # default). Wrong user codes per address before each further one doubles a wait (§5.1).
    device_code_lifetime: int = Field(default=600, ge=60, le=3600)
    device_poll_interval: int = Field(default=5, ge=1, le=60)
    device_user_code_failures_before_delay: int = Field(default=10, ge=1, le=1000)
    # RFC 8628 §5.1 against guessing from many addresses: every user-code lookup per address a
    # minute (a load ceiling: an office's sign-ins take about three each), and wrong codes from
    # all addresses together in a fixed window, past which every lookup anywhere waits (1, 2,
    # 4 ... s up to AUTH_MAX_FAILURE_DELAY). The upper bounds keep guessing hopeless: 10 000
    # guesses an hour at 20**8 codes find one of 1000 pending codes with p < 0.0004.
    device_lookup_limit_per_ip: int = Field(default=300, ge=1, le=3000)
    device_user_code_failures_service_wide: int = Field(default=1000, ge=1, le=10_000)
    device_user_code_failure_window: float = Field(default=3600, ge=60, le=86400)
    # POST /oauth/device_authorization a minute per confidential client, and per public client
    # and address: each stores a row a person must answer, so far fewer than token requests.
    device_authorization_limit_per_client: int = Field(default=30, ge=1, le=600)
    leeway: int = Field(default=30, ge=0, le=MAX_LEEWAY)
    # RFC 9700 §4.14.2 reuse detection; a retry of the just-rotated token within this window is
    # answered instead of being treated as theft. 0 means strict.
    refresh_token_reuse_grace: int = Field(default=5, ge=0, le=60)
    jwks_max_age: int = Field(default=300, ge=0, le=86400)
    discovery_max_age: int = Field(default=3600, ge=0, le=86400)

    # Key rotation: a new key is published at once and signs only after the activation delay,
    # which must outlast the JWKS cache lifetime so every resource server has the key first.
    key_activation_delay: int = Field(default=600, ge=0)
    key_rotation_interval: int = Field(default=0, ge=0)  # seconds; 0 = only `keys rotate`
    key_reload_interval: float = Field(
        default=10.0, gt=0
    )  # how often instances re-read the schedule
    maintenance_interval: float = Field(default=300.0, gt=0)  # cleanup of expired rows
    audit_retention_days: int = Field(default=90, ge=1)
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AUTH_REDIS_URL", "REDIS_URL")
    )
    # OpenTelemetry (README "Traces"): the standard variables; unset, tracing is off.
    otel_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    otel_traces_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    # Introspection answers from this instance's copy of the published revocations: its own at
    # once, other instances' within this many seconds (at once when Redis announces them).
    revocation_sync_interval: float = Field(default=1.0, gt=0, le=60)
    # Several instances (issue 13): a changed client is forgotten by the instance that changed
    # it at once and by the others when the feed or Redis tells them; this bounds the rest.
    # Resource-server look-ups (RFC 8707) are kept as long, under the same kind of notices.
    client_cache_ttl: float = Field(default=2.0, ge=0, le=3600)
    # GET /oauth/revocations: requests per address per minute (a resource-server instance polls
    # every few seconds and, with Redis, after each announcement), and an optional bearer token
    # the followers must send, for deployments that keep revocation timing private; requests
    # with that token are not counted.
    revocation_feed_limit_per_ip: int = Field(default=6000, ge=1)
    revocation_feed_token: str | None = Field(default=None, min_length=32)
    # When set, /metrics is served only on this port of metrics_host (404 on the public one).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    # DPoP (RFC 9449, README "Sender-constrained tokens (DPoP)"): a proof's iat may differ from
    # our clock by this many seconds either way, and its jti is remembered as long. With
    # dpop_nonce_required the token endpoint also demands a server nonce (RFC 9449 §8), valid
    # for one to two lifetimes; nonces are HMACs under a key from the key directory, no storage.
    dpop_proof_window: int = Field(default=60, ge=5, le=600)
    dpop_nonce_required: bool = False
    dpop_nonce_lifetime: int = Field(default=300, ge=30, le=3600)

    # Sign-up, dynamic registration (RFC 7591) and throttling.
    signup_enabled: bool = True
    # RFC 7591 §3: with a token, registration needs `Authorization: Bearer <token>`; open means
    # anyone may register; with neither, /oauth/register does not exist.
    registration_initial_access_token: str | None = None
    registration_open: bool = False
    # Throttling (README "Throttling"): OWASP Authentication and Credential Stuffing Prevention
    # cheat sheets, ASVS 5.0 V6.3.1. Per address, failures count and successes never do.
    rate_limits_enabled: bool = True
    # A ceiling on every sign-in attempt per address: it only bounds load (3000 a minute lets 50
    # sign-ins a second through from one office or CGNAT address).
    login_limit_per_ip: int = Field(default=3000, ge=1)
    login_limit_window: float = Field(default=60, gt=0)
    # Per account, from all addresses together: after this many failures each one doubles a
    # wait up to the cap; about 3 + 6 + 3600/60 = 69 failures an hour at most (ASVS: <= 100).
    failures_before_delay: int = Field(default=3, ge=1)
    max_failure_delay: float = Field(default=60, gt=0)
    # Longer than the longest delay, so the count does not restart just as a wait ends.
    failure_memory: float = Field(default=3600, gt=0)
    # Per address (IPv6 by /64), in a fixed window: failures before each further one doubles a
    # wait for unknown browsers there, and distinct failed usernames before it is refused.
    ip_failures_before_delay: int = Field(default=30, ge=1)
    ip_failed_username_limit: int = Field(default=50, ge=1)
    ip_failure_window: float = Field(default=3600, gt=0)
    # An account that signed in from an address is not held by that address's waits for this long.
    ip_known_account_memory: float = Field(default=30 * 86400, gt=0)
    # OWASP device cookies: a browser that signed in to an account skips its waits; a device
    # cookie used in this many failures is an unknown browser again for AUTH_FAILURE_MEMORY.
    device_cookie_ttl: int = Field(default=365 * 86400, ge=3600)
    device_failure_limit: int = Field(default=5, ge=1)
    # Second factor: AUTH_FAILURES_BEFORE_DELAY per pending sign-in, and this many per account
    # (over all sign-ins, not counting browsers with a device cookie for it).
    second_factor_account_failures_before_delay: int = Field(default=20, ge=1)
    # Its wait grows to an hour and its count is kept a day: whoever has the password gets about
    # 24 guesses a day at a 6-digit code, not one a minute (NIST SP 800-63B section 5.2.2).
    second_factor_account_max_delay: float = Field(default=3600, gt=0)
    second_factor_account_memory: float = Field(default=86400, gt=0)
    # Token requests a minute per confidential client, and per public client *and* address
    # (a public client proves nothing, so anyone could spend a budget it had alone).
    token_limit_per_client: int = Field(default=6000, ge=1)
    signup_limit_per_ip: int = Field(default=10, ge=1)  # per hour
    registration_limit_per_ip: int = Field(default=20, ge=1)  # per hour
    # Each authorization request is stored while the user logs in: bound how fast one address
    # can make the database hold them, sized like the sign-in ceiling.
    authorize_limit_per_ip: int = Field(default=3000, ge=1)  # per minute
    unknown_client_limit_per_ip: int = Field(default=60, ge=1)  # per 5 minutes

    # argon2id cost (RFC 9106 second recommended option is t=3, m=64 MiB).
    password_time_cost: int = Field(default=3, ge=1)
    password_memory_kib: int = Field(default=65536, ge=8)
    password_parallelism: int = Field(default=4, ge=1)
    # Accounts, sessions and credential changes: argon2 runs at most this many hashes at once
    # (each takes password_memory_kib and a core); this many more may wait, the rest get 503.
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    password_hash_queue: int = Field(default=64, ge=0, le=10000)
    # A session ends after this many seconds without a request (beside session_ttl, the
    # absolute limit); OWASP Session Management Cheat Sheet, ASVS 5.0 V7.3.1.
    session_idle_timeout: int = Field(default=3600, ge=60)

    # Client keys for private_key_jwt (RFC 7523 section 2.2) fetched from a client's jwks_uri:
    # kept this many seconds, refetched at most once per interval when an assertion names a kid
    # the cached set lacks, fetched with this timeout (connect and read) and size limit.
    client_jwks_ttl: float = Field(default=300.0, ge=0, le=86400)
    client_jwks_refetch_interval: float = Field(default=60.0, ge=1, le=3600)
    client_jwks_timeout: float = Field(default=2.0, gt=0, le=30)
    client_jwks_max_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    # Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00, README
    # "Client ID Metadata Documents"): an https URL as client_id names a JSON document we fetch
    # (through the guarded fetcher) with this timeout and size limit, and keep as its
    # Cache-Control / Expires headers say, but never shorter than the floor nor longer than the
    # ceiling. Off: such client_ids are unknown clients and discovery does not offer them.
    client_metadata_documents_enabled: bool = True
    client_metadata_timeout: float = Field(default=3.0, gt=0, le=30)
    client_metadata_max_bytes: int = Field(default=5 * 1024, ge=1024, le=64 * 1024)
    client_metadata_min_ttl: int = Field(default=60, ge=0, le=86400)
    client_metadata_max_ttl: int = Field(default=86400, ge=0, le=7 * 86400)
    # A failed fetch or a refused document is remembered this many seconds (0: not at all), so
    # a broken URL sent again and again is not fetched every time.
    client_metadata_failure_ttl: int = Field(default=30, ge=0, le=3600)
    # Fetches (never answers from the cache) per minute per client address (IPv6 by /64) and per
    # target host: anyone can make us fetch, so neither a client nor a victim host gets more.
    client_metadata_fetch_limit_per_ip: int = Field(default=20, ge=1)
    client_metadata_fetch_limit_per_host: int = Field(default=60, ge=1)
    # Comma-separated host names never fetched, each with its subdomains ("example.com" also
    # refuses "a.example.com"; "*.example.com" and ".example.com" mean the same).
    client_metadata_deny_hosts: str = ""
    # Outgoing mail (README "Mail"): an SMTP server as smtp://[user:password@]host[:port] (STARTTLS
    # with AUTH_SMTP_STARTTLS) or smtps://... (TLS from the first byte). Unset: nothing is sent
    # and the pages that need mail (forgot password) are not offered. Messages wait in the
    # database's outbox; a background sender delivers them, retrying with a doubling wait up to
    # AUTH_MAIL_MAX_ATTEMPTS, after which the message is logged and kept.
    smtp_url: str | None = None
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = Field(default=10.0, gt=0, le=120)
    mail_from: str = "MyAuthProvider <no-reply@localhost>"
    mail_max_attempts: int = Field(default=10, ge=1, le=100)
    mail_poll_interval: float = Field(default=5.0, gt=0, le=3600)
    # Development only: where the local catcher `make run` starts keeps what it caught, shown
    # at /dev/mail.
    dev_mail_dir: Path = Path("var/mail")
    # Forgot password (OWASP Forgot Password Cheat Sheet): a mailed link works this long, once.
    # Forms per hour per address (IPv6 by /64), and mails per hour per account: past either,
    # the address gets 429, the account silently no more mail (the answer never tells).
    password_reset_ttl: int = Field(default=1800, ge=300, le=86400)
    password_reset_limit_per_ip: int = Field(default=30, ge=1)
    password_reset_mails_per_account: int = Field(default=3, ge=1)
    # Verified email: a mailed link proves the address for this long (once); "send again" on
    # /account may be used this many times an hour.
    email_verification_ttl: int = Field(default=86400, ge=3600, le=7 * 86400)
    email_verification_mails_per_hour: int = Field(default=3, ge=1)
    # A mail to the owner after a sign-in from a browser without the account's device cookie
    # (README "Sessions"); only when mail is configured.
    sign_in_notices: bool = True
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias=AliasChoices("AUTH_LOG_FORMAT", "LOG_FORMAT")
    )
    log_level: str = "INFO"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto headers are believed (comma-
    # separated; "*" is refused). Unset: the headers are ignored, so nobody can pick the address
    # that rate limits and audit records see.
    forwarded_allow_ips: str | None = None

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def relaxed_egress(self) -> bool:
        """Fetches of client-chosen URLs (metadata documents, jwks_uri) may use http and reach
        loopback and private addresses: development with an issuer only this machine can
        reach (loopback, `localhost`, or a name under RFC 6761's `.test` or `.localhost`).
        A development instance published under a real name gets production's fetch rules,
        since anyone who can reach it could otherwise aim its fetches at the inside (SSRF)."""
        host = (urlsplit(self.issuer).hostname or "").lower().rstrip(".")
        local = host in ("localhost", "::1") or host.endswith((".localhost", ".test"))
        try:
            local = local or ipaddress.ip_address(host).is_loopback
        except ValueError:
            pass
        return self.is_development and local

    @property
    def registration_enabled(self) -> bool:
        return self.registration_open or bool(self.registration_initial_access_token)

    def throttle_policy(self) -> ThrottlePolicy:
        account = Backoff(self.failures_before_delay, self.max_failure_delay, self.failure_memory)
        return ThrottlePolicy(
            enabled=self.rate_limits_enabled,
            login_per_ip=Window(self.login_limit_per_ip, self.login_limit_window),
            login_account=account,
            login_ip=Backoff(
                self.ip_failures_before_delay,
                self.max_failure_delay,
                self.ip_failure_window,
                sliding=False,
            ),
            login_ip_usernames=Window(self.ip_failed_username_limit, self.ip_failure_window),
            device_failures=Window(self.device_failure_limit, self.failure_memory),
            second_factor_login=account,
            second_factor_account=Backoff(
                self.second_factor_account_failures_before_delay,
                self.second_factor_account_max_delay,
                self.second_factor_account_memory,
            ),
            client_auth=account,
            token_per_client=Window(self.token_limit_per_client, 60),
            signup_per_ip=Window(self.signup_limit_per_ip, 3600),
            registration_per_ip=Window(self.registration_limit_per_ip, 3600),
            authorize_per_ip=Window(self.authorize_limit_per_ip, 60),
            unknown_clients_per_ip=Window(self.unknown_client_limit_per_ip, 300),
            device_user_code_ip=Backoff(
                self.device_user_code_failures_before_delay,
                self.max_failure_delay,
                self.ip_failure_window,
                sliding=False,
            ),
            device_lookup_per_ip=Window(self.device_lookup_limit_per_ip, 60),
            device_user_code_all=Backoff(
                self.device_user_code_failures_service_wide,
                self.max_failure_delay,
                self.device_user_code_failure_window,
                sliding=False,
            ),
            device_authorization_per_client=Window(self.device_authorization_limit_per_client, 60),
            revocation_feed_per_ip=Window(self.revocation_feed_limit_per_ip, 60),
            client_metadata_fetch_per_ip=Window(self.client_metadata_fetch_limit_per_ip, 60),
            client_metadata_fetch_per_host=Window(self.client_metadata_fetch_limit_per_host, 60),
            known_account_memory=self.ip_known_account_memory,
        )

    @property
    def cookie_secure(self) -> bool:
        return self.issuer.startswith("https://")

    @model_validator(mode="after")
    def _refuse_insecure_values(self) -> AuthSettings:
        self.issuer = self.issuer.rstrip("/")
        parts = urlsplit(self.issuer)
        if (
            parts.scheme not in ("https", "http")
            or not parts.netloc
            or parts.query
            or parts.fragment
        ):
            raise ValueError(
                "AUTH_ISSUER must be an absolute http(s) URL without query or fragment"
            )
        if self.forwarded_allow_ips and "*" in _items(self.forwarded_allow_ips):
            # uvicorn would then take X-Forwarded-For from anyone: every client could choose the
            # address its limits and audit records are kept under.
            raise ValueError(
                "AUTH_FORWARDED_ALLOW_IPS=* would believe any client's X-Forwarded-For; "
                "name your reverse proxies' addresses or networks instead"
            )
        if self.client_metadata_min_ttl > self.client_metadata_max_ttl:
            raise ValueError(
                "AUTH_CLIENT_METADATA_MIN_TTL must not exceed AUTH_CLIENT_METADATA_MAX_TTL"
            )
        if self.smtp_url:
            SmtpServer.parse(self.smtp_url, start_tls=self.smtp_starttls)  # says what is wrong
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("AUTH_TLS_CERT and AUTH_TLS_KEY must be set together")
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("AUTH_METRICS_PORT must differ from AUTH_PORT")
        # An instance publishes a new key only when it next reloads the schedule, and a resource
        # server that fetched the key set just before keeps it for the max-age: the key must not
        # sign before both have passed.
        if self.key_activation_delay < self.jwks_max_age + self.key_reload_interval:
            raise ValueError(
                "AUTH_KEY_ACTIVATION_DELAY must be at least AUTH_JWKS_MAX_AGE + "
                "AUTH_KEY_RELOAD_INTERVAL, or resource servers would see tokens signed by a key "
                "they have not fetched yet"
            )
        if not self.is_development:
            # RFC 8414 §2 and RFC 9700 §4.1.1: the issuer must use https outside development.
            if parts.scheme != "https":
                raise ValueError("AUTH_ISSUER must use https when AUTH_ENVIRONMENT=production")
            if not self.key_dir.is_dir():
                raise ValueError(f"AUTH_KEY_DIR {self.key_dir} must exist in production")
            if (self.signup_enabled or self.registration_open) and not self.rate_limits_enabled:
                raise ValueError("open sign-up or registration needs AUTH_RATE_LIMITS_ENABLED=true")
            if self.registration_open and self.registration_initial_access_token:
                raise ValueError("set AUTH_REGISTRATION_OPEN or an initial access token, not both")
        return self


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",")]


@lru_cache
def get_settings() -> AuthSettings:
    return AuthSettings()
