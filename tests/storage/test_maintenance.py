"""Background maintenance: the signing key schedule (RFC 7517, RFC 8725 §3.1) and expired-row cleanup."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.clients.registry import MAX_ACCESS_TTL
from auth_service.config import AuthSettings
from auth_service.operations.key_lifecycle import (
    MAX_TOKEN_LIFETIME,
    RETIREMENT_MARGIN,
    rotate_signing_key,
)
from auth_service.operations.maintenance import CLEANUP_JOB, ROTATION_JOB, Maintenance
from auth_service.repositories import Repositories
from auth_service.security.keys import new_signing_key, write_private_key
from shared.models import (
    AuditEvent,
    AuthorizationCode,
    DeviceAuthorization,
    Grant,
    MailedToken,
    PendingAuthorization,
    PushedAuthorizationRequest,
    RefreshToken,
    RevocationEvent,
    ScheduledJob,
    SigningKey,
    UsedJti,
    UserSession,
)
from tests.factories import TestClient, TestUser, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.forge import b64url_decode, unverified_claims
from tests.support.token_endpoint import refresh

JWKS_MAX_AGE = 60
ACTIVATION_DELAY = 120  # must be at least JWKS_MAX_AGE (settings validation)
LEEWAY = 30  # ResourceSettings.leeway default
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def key_rotation_interval() -> int:
    """Override with @pytest.mark.parametrize("key_rotation_interval", [...])."""
    return 0


@pytest.fixture
def settings(settings: AuthSettings, key_rotation_interval: int) -> AuthSettings:
    # Built through the constructor so the activation-delay >= JWKS max-age rule is checked.
    values = settings.model_dump()
    values.update(
        jwks_max_age=JWKS_MAX_AGE,
        key_activation_delay=ACTIVATION_DELAY,
        key_rotation_interval=key_rotation_interval,
        # One algorithm's schedule here; tests/storage/test_signing_algorithms.py has all four.
        signing_algs=("RS256",),
    )
    return AuthSettings(_env_file=None, **values)


@pytest.fixture
def maintenance(auth_app: FastAPI) -> Maintenance:
    found: Maintenance = auth_app.state.maintenance
    return found


def header(token: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0]))
    return value


async def published_kids(auth: httpx.AsyncClient) -> set[str]:
    response = await auth.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == f"public, max-age={JWKS_MAX_AGE}"
    return {key["kid"] for key in response.json()["keys"]}


async def rotate(maintenance: Maintenance) -> SigningKey:
    """`auth-service keys rotate` as the CLI does it, in the auth service's own unit of work."""
    settings = maintenance.settings
    async with maintenance.sessionmaker() as session:
        key = await rotate_signing_key(
            Repositories.over(session),
            settings.key_dir,
            alg=settings.signing_alg,
            now=maintenance.clock(),
            activation_delay=settings.key_activation_delay,
        )
        await session.commit()
    return key


def move_to(clock: TestClock, instant: datetime) -> None:
    clock.advance((instant - clock()).total_seconds())


def key_file_mode(settings: AuthSettings, kid: str) -> int | None:
    """The permission bits of `kid`'s private key file, or None when there is no such file."""
    path = Path(settings.key_dir) / f"{kid}.pem"
    return path.stat().st_mode & 0o777 if path.is_file() else None


def key_file_names(settings: AuthSettings) -> set[str]:
    # Signing keys only: the directory also holds the data-encryption key (secret_box).
    return {path.name for path in Path(settings.key_dir).glob("*.pem")}


class TokenSource:
    """Fresh tokens on demand, by refreshing one family: each is signed by the current key."""

    def __init__(self, auth: httpx.AsyncClient, client: TestClient, refresh_token: str) -> None:
        self._auth, self._client, self._refresh_token = auth, client, refresh_token

    async def tokens(self) -> dict[str, Any]:
        response = await refresh(self._auth, self._client, self._refresh_token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self._refresh_token = body["refresh_token"]
        return body

    async def signer(self) -> tuple[str, str]:
        """(kid of the access token, access token); the ID token must name the same kid."""
        body = await self.tokens()
        kid = header(body["access_token"])["kid"]
        assert header(body["id_token"])["kid"] == kid
        return kid, body["access_token"]


@pytest.fixture
async def token_source(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> TokenSource:
    request = AuthorizationRequest(confidential_client, scope="openid profile")
    issued = await tokens_for(auth_client, request, user)
    return TokenSource(auth_client, confidential_client, issued["refresh_token"])


async def call_api(resource: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await resource.get("/api/v1/me", headers={"Authorization": f"Bearer {access_token}"})


# --- Rotation ---


async def test_rotate_signing_key_new_key_is_published_at_once_and_signs_only_after_activation(
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    settings: AuthSettings,
    maintenance: Maintenance,
    signing_key: SigningKey,
    token_source: TokenSource,
) -> None:
    new = await rotate(maintenance)

    assert new.activates_at == new.created_at + timedelta(seconds=ACTIVATION_DELAY)
    assert key_file_mode(settings, new.kid) == 0o600
    old = await db.get(SigningKey, signing_key.kid)
    assert old is not None
    assert old.retires_at == new.activates_at + MAX_TOKEN_LIFETIME + RETIREMENT_MARGIN
    # Each instance publishes what it has loaded: the schedule is picked up by reload_keys.
    assert await published_kids(auth_client) == {old.kid}
    assert await maintenance.reload_keys() is True
    assert await maintenance.reload_keys() is False
    assert await published_kids(auth_client) == {old.kid, new.kid}
    assert (await token_source.signer())[0] == old.kid

    move_to(clock, new.activates_at - SECOND)
    assert (await token_source.signer())[0] == old.kid

    move_to(clock, new.activates_at + SECOND)
    assert (await token_source.signer())[0] == new.kid
    assert await published_kids(auth_client) == {old.kid, new.kid}


async def test_rotate_signing_key_old_key_stays_published_until_retires_at(
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    settings: AuthSettings,
    maintenance: Maintenance,
    signing_key: SigningKey,
) -> None:
    new = await rotate(maintenance)
    await maintenance.reload_keys()
    old = await db.get(SigningKey, signing_key.kid)
    assert old is not None and old.retires_at is not None

    move_to(clock, old.retires_at - SECOND)
    assert await published_kids(auth_client) == {old.kid, new.kid}

    move_to(clock, old.retires_at + SECOND)
    assert await published_kids(auth_client) == {new.kid}


async def test_rotate_signing_key_old_key_tokens_are_accepted_by_resource_api_until_they_expire(
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    settings: AuthSettings,
    maintenance: Maintenance,
    signing_key: SigningKey,
    token_source: TokenSource,
    resource_client: httpx.AsyncClient,  # after the factories: its feed polls in the background
) -> None:
    new = await rotate(maintenance)
    await maintenance.reload_keys()
    move_to(clock, new.activates_at - SECOND)
    kid, last_old_token = await token_source.signer()
    assert kid == signing_key.kid
    move_to(clock, new.activates_at + SECOND)
    assert (await token_source.signer())[0] == new.kid

    assert (await call_api(resource_client, last_old_token)).status_code == 200

    exp = datetime.fromtimestamp(unverified_claims(last_old_token)["exp"], clock().tzinfo)
    move_to(clock, exp - SECOND)
    assert (await call_api(resource_client, last_old_token)).status_code == 200
    assert await published_kids(auth_client) == {signing_key.kid, new.kid}
    move_to(clock, exp + timedelta(seconds=LEEWAY) + SECOND)
    expired = await call_api(resource_client, last_old_token)
    assert_oauth_error(expired, "invalid_token", status=401, description="token has expired")


@pytest.mark.parametrize("key_rotation_interval", [86400])
async def test_rotate_if_due_rotates_once_and_an_immediate_second_call_does_nothing(
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    settings: AuthSettings,
    maintenance: Maintenance,
    signing_key: SigningKey,
) -> None:
    assert await maintenance.rotate_if_due() is True

    (new,) = await db.all(SigningKey, SigningKey.kid != signing_key.kid)
    old = await db.get(SigningKey, signing_key.kid)
    assert old is not None
    assert new.activates_at == new.created_at + timedelta(seconds=ACTIVATION_DELAY)
    assert old.retires_at == new.activates_at + MAX_TOKEN_LIFETIME + RETIREMENT_MARGIN
    assert key_file_mode(settings, new.kid) == 0o600
    (job,) = await db.all(ScheduledJob)
    assert (job.name, job.last_run_at) == (ROTATION_JOB, new.created_at)
    assert await published_kids(auth_client) == {old.kid, new.kid}

    assert await maintenance.rotate_if_due() is False

    assert await db.count(SigningKey) == 2
    assert await db.all(ScheduledJob) == [job]
    assert key_file_names(settings) == {f"{old.kid}.pem", f"{new.kid}.pem"}


@pytest.mark.parametrize("key_rotation_interval", [86400])
async def test_rotate_if_due_rotates_again_once_the_interval_has_passed(
    db: Database, clock: TestClock, maintenance: Maintenance
) -> None:
    assert await maintenance.rotate_if_due() is True
    (first,) = await db.all(ScheduledJob)

    clock.advance(86400 - 60)
    assert await maintenance.rotate_if_due() is False
    clock.advance(61)
    assert await maintenance.rotate_if_due() is True

    assert await db.count(SigningKey) == 3
    job = await db.get(ScheduledJob, ROTATION_JOB)
    assert job is not None
    assert job.last_run_at - first.last_run_at >= timedelta(seconds=86401)


@pytest.mark.parametrize("key_rotation_interval", [86400])
async def test_rotate_if_due_keeps_old_key_published_past_the_longest_token_it_can_have_signed(
    db: Database, maintenance: Maintenance, signing_key: SigningKey
) -> None:
    await make_client(db, access_token_ttl=MAX_ACCESS_TTL)

    assert await maintenance.rotate_if_due() is True

    (new,) = await db.all(SigningKey, SigningKey.kid != signing_key.kid)
    old = await db.get(SigningKey, signing_key.kid)
    assert old is not None and old.retires_at is not None
    # RFC 7517 §5 / RFC 8725 §3.1: a verifier needs the key for as long as a token it signed is
    # valid. The old key signs until new.activates_at; the longest token then lives
    # MAX_ACCESS_TTL, and verifiers accept it for their leeway past exp.
    longest = max(MAX_ACCESS_TTL, maintenance.settings.id_token_ttl) + LEEWAY
    assert old.retires_at - new.activates_at >= timedelta(seconds=longest)


# --- Cleanup ---


async def _retired_key(settings: AuthSettings, retires_at: datetime) -> SigningKey:
    key = new_signing_key("ES256")
    write_private_key(Path(settings.key_dir), key.kid, key.pem)
    return SigningKey(
        kid=key.kid,
        alg="ES256",
        public_jwk=key.public_jwk,
        created_at=retires_at - timedelta(days=30),
        activates_at=retires_at - timedelta(days=30),
        retires_at=retires_at,
    )


def _pending(client: TestClient, now: datetime, expires_at: datetime) -> PendingAuthorization:
    return PendingAuthorization(
        id=secrets.token_urlsafe(32),
        client_id=client.client_id,
        params={},
        created_at=now - timedelta(minutes=10),
        expires_at=expires_at,
    )


def _pushed(
    client: TestClient, key: str, now: datetime, expires_at: datetime
) -> PushedAuthorizationRequest:
    return PushedAuthorizationRequest(
        request_uri_hash=key,
        client_id=client.client_id,
        params={},
        created_at=now,
        expires_at=expires_at,
    )


def _session(user: TestUser, expires_at: datetime) -> UserSession:
    return UserSession(
        id_hash=secrets.token_hex(32),
        user_id=user.id,
        created_at=expires_at - timedelta(hours=12),
        auth_time=expires_at - timedelta(hours=12),
        expires_at=expires_at,
    )


def _code(grant: Grant, expires_at: datetime) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=secrets.token_hex(32),
        grant_id=grant.id,
        client_id=grant.client_id,
        user_id=grant.user_id,
        redirect_uri="https://client.example/callback",
        scope="openid",
        auth_time=expires_at - timedelta(minutes=1),
        created_at=expires_at - timedelta(minutes=1),
        expires_at=expires_at,
    )


def _device(client: TestClient, expires_at: datetime) -> DeviceAuthorization:
    return DeviceAuthorization(
        device_code_hash=secrets.token_hex(32),
        user_code_hash=secrets.token_hex(32),
        client_id=client.client_id,
        scope="read:notes",
        interval=5,
        created_at=expires_at - timedelta(minutes=10),
        expires_at=expires_at,
    )


def _refresh_token(grant: Grant, expires_at: datetime) -> RefreshToken:
    return RefreshToken(
        token_hash=secrets.token_hex(32),
        grant_id=grant.id,
        client_id=grant.client_id,
        scope="openid",
        created_at=expires_at - timedelta(days=30),
        expires_at=expires_at,
    )


def _mailed_token(user: TestUser, expires_at: datetime) -> MailedToken:
    return MailedToken(
        token_hash=secrets.token_hex(32),
        purpose="password-reset",
        user_id=user.id,
        created_at=expires_at - timedelta(minutes=30),
        expires_at=expires_at,
    )


def _revocation(now: datetime, expires_at: datetime) -> RevocationEvent:
    return RevocationEvent(
        kind="token", value=secrets.token_hex(8), created_at=now, expires_at=expires_at
    )


async def test_clean_up_deletes_expired_rows_and_retired_keys_and_keeps_the_rest(
    db: Database,
    clock: TestClock,
    settings: AuthSettings,
    maintenance: Maintenance,
    signing_key: SigningKey,
    confidential_client: TestClient,
    user: TestUser,
) -> None:
    now = clock()
    day, later = timedelta(days=1), now + timedelta(days=2)
    grant = Grant(
        user_id=user.id,
        client_id=confidential_client.client_id,
        scope="openid",
        auth_time=now - 3 * day,
        created_at=now - 3 * day,
    )
    await db.add(grant)
    pending_ttl = timedelta(seconds=settings.pending_request_ttl)
    long_retired = await _retired_key(settings, now - day - timedelta(minutes=1))
    recently_retired = await _retired_key(settings, now - timedelta(hours=1))
    gone = [
        _pending(confidential_client, now, now - SECOND),
        _session(user, now - SECOND),
        _code(grant, now - day - timedelta(minutes=1)),
        _refresh_token(grant, now - day - timedelta(minutes=1)),
        _device(confidential_client, now - day - timedelta(minutes=1)),
        _revocation(now - day, now - SECOND),
        AuditEvent(created_at=now - timedelta(days=91), event="login_failed"),
        long_retired,
        # A pushed request is kept a pending request's lifetime past its expiry (RFC 9126 §4).
        _pushed(confidential_client, "gone", now, now - pending_ttl - SECOND),
        UsedJti(key="gone", expires_at=now - SECOND),
        # A mailed link expired for more than a day (kept a day, like codes).
        _mailed_token(user, now - day - timedelta(minutes=1)),
    ]
    # A code or token expired for less than a day stays, so its reuse is still recognised.
    live_pending = _pending(confidential_client, now, later)
    kept = [
        live_pending,
        _session(user, later),
        _code(grant, now - timedelta(hours=1)),
        _refresh_token(grant, now - timedelta(hours=1)),
        # RFC 8628 §3.5: a late poll still gets expired_token, not invalid_grant.
        _device(confidential_client, now - timedelta(hours=1)),
        _revocation(now, later),
        AuditEvent(created_at=now - timedelta(days=89), event="login_failed"),
        recently_retired,
        # A minute of margin: the clock runs on while the rows are written (a busy CI machine
        # took more than the second these once had).
        _pushed(confidential_client, "kept", now, now + MINUTE),
        _pushed(confidential_client, "recently expired", now, now - pending_ttl + MINUTE),
        UsedJti(key="kept", expires_at=now + MINUTE),
        _mailed_token(user, now - timedelta(hours=1)),
    ]
    await db.add(*gone, *kept)
    before = {model: await db.count(model) for model in {type(row) for row in gone}}

    counts = await maintenance.clean_up()

    assert counts == {
        "pending_authorizations": 1,
        "pushed_authorization_requests": 1,
        "used_jtis": 1,
        "authorization_codes": 1,
        "device_authorizations": 1,
        "refresh_tokens": 1,
        "sessions": 1,
        "mailed_tokens": 1,
        "passkey_challenges": 0,
        "revocation_events": 1,
        "audit_events": 1,
        "signing_keys": 1,
        "grants": 0,  # the grant still has a live code and refresh token
    }
    for model, count in before.items():
        assert await db.count(model) == count - 1, model
    assert await db.get(SigningKey, long_retired.kid) is None
    assert key_file_mode(settings, long_retired.kid) is None
    assert await db.get(SigningKey, recently_retired.kid) is not None
    assert key_file_mode(settings, recently_retired.kid) == 0o600
    assert await db.get(SigningKey, signing_key.kid) is not None
    assert key_file_mode(settings, signing_key.kid) == 0o600
    assert await db.get(PendingAuthorization, live_pending.id) is not None
    (job,) = await db.all(ScheduledJob)
    assert job.name == CLEANUP_JOB
    assert now <= job.last_run_at <= clock()


async def test_clean_up_called_again_before_maintenance_interval_does_nothing(
    db: Database,
    clock: TestClock,
    settings: AuthSettings,
    maintenance: Maintenance,
    confidential_client: TestClient,
) -> None:
    assert await maintenance.clean_up() != {}
    (job,) = await db.all(ScheduledJob)
    expired = _pending(confidential_client, clock(), clock() - SECOND)
    await db.add(expired)

    assert await maintenance.clean_up() == {}
    clock.advance(settings.maintenance_interval * 0.5)
    assert await maintenance.clean_up() == {}

    assert await db.get(PendingAuthorization, expired.id) is not None
    assert await db.all(ScheduledJob) == [job]


async def test_clean_up_runs_again_once_the_maintenance_interval_has_passed(
    db: Database,
    clock: TestClock,
    settings: AuthSettings,
    maintenance: Maintenance,
    confidential_client: TestClient,
) -> None:
    await maintenance.clean_up()
    expired = _pending(confidential_client, clock(), clock() - SECOND)
    await db.add(expired)
    clock.advance(settings.maintenance_interval)

    counts = await maintenance.clean_up()

    assert counts["pending_authorizations"] == 1
    assert await db.get(PendingAuthorization, expired.id) is None


async def test_clean_up_deletes_revoked_and_spent_grants_and_keeps_live_ones(
    db: Database,
    clock: TestClock,
    maintenance: Maintenance,
    signing_key: SigningKey,
    confidential_client: TestClient,
    user: TestUser,
) -> None:
    now = clock()

    def grant(**values: datetime | None) -> Grant:
        created = values.pop("created_at", None) or now - timedelta(days=3)
        return Grant(
            user_id=user.id,
            client_id=confidential_client.client_id,
            scope="openid",
            auth_time=created,
            created_at=created,
            **values,
        )

    revoked_long_ago = grant(revoked_at=now - timedelta(days=2))
    spent = grant(access_expires_at=now - timedelta(days=2))  # no token or code left
    revoked_today = grant(revoked_at=now - timedelta(hours=1))  # unused for days: goes too
    with_refresh_token = grant(access_expires_at=now - timedelta(days=2))
    fresh = grant(created_at=now - timedelta(minutes=5))  # its code is still to be redeemed
    await db.add(revoked_long_ago, spent, revoked_today, with_refresh_token, fresh)
    await db.add(_refresh_token(with_refresh_token, now + timedelta(days=5)))

    counts = await maintenance.clean_up()

    assert counts["grants"] == 3
    remaining = {g.id for g in await db.all(Grant)}
    assert remaining == {with_refresh_token.id, fresh.id}
