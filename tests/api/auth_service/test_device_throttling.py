"""Throttling of the device authorization grant (RFC 8628 §5.1): wrong user codes at /device per
address counted before the lookup (so a concurrent burst cannot pass), every lookup per address,
wrong codes service-wide, and POST /oauth/device_authorization's own budget per client."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from auth_service.config import AuthSettings
from auth_service.main import create_app
from auth_service.oauth.device_authorization import DEVICE_CODE_GRANT
from auth_service.routes.device import BUCKET
from auth_service.throttling.addresses import address_group
from auth_service.throttling.policy import Throttle
from shared.models import Consent, DeviceAuthorization, Grant
from tests.conftest import ISSUER
from tests.factories import TestClient, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.db import Database
from tests.support.device import DEVICE_SCOPE, enter_code, poll, start_device, started
from tests.support.flows import csrf_from
from tests.support.pages import page_error_text, sha256_hex
from tests.support.throttle_clock import ManualMonotonic, manual_throttle_clock

WRONG_CODE = "That code is not right. Check the code on your device and try again."
WRONG = "BCDF-GHJK"  # well formed, and (with odds of 1 in 20**8) nobody's code
OFFICE, ELSEWHERE = "198.51.100.7", "203.0.113.9"


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(settings: AuthSettings, setting_overrides: dict[str, Any]) -> AuthSettings:
    return settings.model_copy(update=setting_overrides)


@pytest.fixture
async def device_client(db: Database) -> TestClient:
    return await make_client(
        db,
        name="Notes CLI",
        redirect_uris=[],
        is_public=True,
        grant_types=[DEVICE_CODE_GRANT, "refresh_token"],
        scope=DEVICE_SCOPE,
    )


@pytest.fixture
async def codes(auth_client: httpx.AsyncClient, device_client: TestClient) -> dict[str, Any]:
    result: dict[str, Any] = await started(auth_client, device_client)
    return result


def phone(app: FastAPI, ip: str = OFFICE) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url=ISSUER)


async def assert_still_pending(db: Database, codes: dict[str, Any]) -> None:
    row = await db.get(DeviceAuthorization, sha256_hex(codes["device_code"]))
    assert row is not None
    assert (row.status, row.user_id, row.grant_id, row.decided_at) == ("pending", None, None, None)
    assert await db.count(Grant) == 0
    assert await db.count(Consent) == 0


def assert_waits(response: httpx.Response, seconds: int) -> None:
    unit = "second" if seconds == 1 else "seconds"
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(seconds)
    assert response.headers["content-type"].startswith("text/html")
    assert f"Too many attempts. Try again in {seconds} {unit}." in response.text


# --- Wrong codes per address, counted before the lookup ---


@pytest.mark.parametrize("setting_overrides", [{"device_user_code_failures_before_delay": 3}])
async def test_device_wrong_codes_sent_together_get_at_most_the_free_lookups(
    db: Database, auth_app: FastAPI, codes: dict[str, Any]
) -> None:
    manual_throttle_clock(auth_app)
    async with phone(auth_app) as attacker:
        token = csrf_from((await attacker.get("/device")).text)
        responses = await asyncio.gather(
            *(
                attacker.post("/device", data={"user_code": WRONG, "csrf_token": token})
                for _ in range(12)
            )
        )

    # The third wrong code starts the first wait; nothing sent alongside it gets past.
    looked_up = [r for r in responses if r.status_code == 400]
    refused = [r for r in responses if r.status_code != 400]
    assert len(looked_up) == 3
    for response in looked_up:
        assert page_error_text(WRONG_CODE) in response.text
    assert len(refused) == 9
    for response in refused:
        assert_waits(response, 1)
    await assert_still_pending(db, codes)


@pytest.mark.parametrize("setting_overrides", [{"device_user_code_failures_before_delay": 3}])
async def test_device_right_code_takes_its_attempt_back_but_never_resets_the_count(
    db: Database, auth_app: FastAPI, codes: dict[str, Any]
) -> None:
    manual_throttle_clock(auth_app)
    async with phone(auth_app) as browser:
        wrong = [await enter_code(browser, WRONG) for _ in range(2)]
        right = [await enter_code(browser, codes["user_code"]) for _ in range(3)]
        third_wrong = await enter_code(browser, WRONG)
        held = await enter_code(browser, codes["user_code"])

    assert [r.status_code for r in wrong] == [400, 400]
    assert [r.status_code for r in right] == [303, 303, 303]  # not counted as failures
    # ... and they did not forget the two before: the third failure starts the wait.
    assert third_wrong.status_code == 400
    assert_waits(held, 1)
    await assert_still_pending(db, codes)


# --- Every lookup per address ---


@pytest.mark.parametrize("setting_overrides", [{"device_lookup_limit_per_ip": 3}])
async def test_device_lookups_per_address_have_a_ceiling_right_codes_included(
    db: Database, auth_app: FastAPI, codes: dict[str, Any]
) -> None:
    throttle_clock: ManualMonotonic = manual_throttle_clock(auth_app)
    async with phone(auth_app, OFFICE) as office, phone(auth_app, ELSEWHERE) as other:
        allowed = [await enter_code(office, codes["user_code"]) for _ in range(3)]
        refused = await enter_code(office, codes["user_code"])
        elsewhere = await enter_code(other, codes["user_code"])
        throttle_clock.advance(60)
        later = await enter_code(office, codes["user_code"])

    assert [r.status_code for r in allowed] == [303, 303, 303]
    assert_waits(refused, 60)
    assert elsewhere.status_code == 303
    assert later.status_code == 303
    await assert_still_pending(db, codes)


# --- Wrong codes from every address together ---


@pytest.mark.parametrize("setting_overrides", [{"device_user_code_failures_service_wide": 3}])
async def test_device_wrong_codes_from_many_addresses_make_every_lookup_wait_and_warn(
    db: Database, auth_app: FastAPI, codes: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    throttle_clock: ManualMonotonic = manual_throttle_clock(auth_app)
    caplog.set_level(logging.WARNING, logger="auth_service.routes.device")
    wrong = []
    for n in range(3):  # a botnet: each address far below its own limit
        async with phone(auth_app, f"192.0.2.{n + 1}") as bot:
            wrong.append(await enter_code(bot, WRONG))
        if n == 1:  # a right code at the brink takes its attempt back and warns of nothing
            async with phone(auth_app, OFFICE) as early_user:
                early = await enter_code(early_user, codes["user_code"])
    async with phone(auth_app, ELSEWHERE) as user:
        held = await enter_code(user, codes["user_code"])
        throttle_clock.advance(1)
        later = await enter_code(user, codes["user_code"])

    assert [r.status_code for r in wrong] == [400, 400, 400]
    assert early.status_code == 303
    assert_waits(held, 1)
    assert later.status_code == 303
    warnings = [r for r in caplog.records if r.name == "auth_service.routes.device"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "service-wide bound" in warnings[0].getMessage()
    await assert_still_pending(db, codes)


@pytest.mark.parametrize("setting_overrides", [{"device_user_code_failures_service_wide": 2}])
async def test_device_refused_by_the_service_wide_bound_does_not_count_for_the_address(
    db: Database, auth_app: FastAPI, codes: dict[str, Any]
) -> None:
    throttle_clock: ManualMonotonic = manual_throttle_clock(auth_app)
    for n in range(2):
        async with phone(auth_app, f"192.0.2.{n + 1}") as bot:
            await enter_code(bot, WRONG)
    async with phone(auth_app, ELSEWHERE) as user:
        held = [await enter_code(user, codes["user_code"]) for _ in range(3)]
        throttle: Throttle = auth_app.state.throttle
        # No lookup happened: the address's count is as before (the next attempt is its first).
        attempt = await throttle.begin_attempt(
            BUCKET, address_group(ELSEWHERE), throttle.policy.device_user_code_ip
        )
        await throttle.undo_attempt(BUCKET, address_group(ELSEWHERE))
        throttle_clock.advance(1)
        later = await enter_code(user, codes["user_code"])

    for response in held:
        assert_waits(response, 1)
    assert attempt == 1
    assert later.status_code == 303
    await assert_still_pending(db, codes)


# --- POST /oauth/device_authorization: a budget of its own ---


@pytest.mark.parametrize("setting_overrides", [{"device_authorization_limit_per_client": 2}])
async def test_device_authorization_requests_beyond_their_budget_are_429(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, device_client: TestClient
) -> None:
    manual_throttle_clock(auth_app)
    first = await started(auth_client, device_client)
    await started(auth_client, device_client)

    refused = await start_device(auth_client, device_client)

    assert_oauth_error(
        refused,
        "temporarily_unavailable",
        status=429,
        description="too many attempts, try again in 60 s",
    )
    assert refused.headers["retry-after"] == "60"
    assert await db.count(DeviceAuthorization) == 2
    # The token endpoint's budget is another: the device still polls.
    assert_oauth_error(
        await poll(auth_client, device_client, first["device_code"]), "authorization_pending"
    )


# --- Settings ---


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("device_lookup_limit_per_ip", 3001),
        ("device_user_code_failures_service_wide", 10_001),
        ("device_user_code_failure_window", 86401),
        ("device_user_code_failures_before_delay", 1001),
        ("device_authorization_limit_per_client", 601),
    ],
)
def test_device_throttle_settings_have_upper_bounds(name: str, value: float) -> None:
    with pytest.raises(ValidationError, match=name):
        AuthSettings(_env_file=None, **{name: value})  # type: ignore[call-arg]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("rate_limits_enabled", [False, True])
def test_production_without_rate_limits_starts_with_a_warning(
    tmp_path: Path, rate_limits_enabled: bool
) -> None:
    settings = AuthSettings(
        _env_file=None,  # type: ignore[call-arg]
        environment="production",
        issuer="https://auth.example",
        key_dir=tmp_path,
        signup_enabled=False,
        registration_open=False,
        rate_limits_enabled=rate_limits_enabled,
    )
    # On the module's logger: create_app replaces the root logger's handlers.
    records = _Records()
    logger = logging.getLogger("auth_service.main")
    logger.addHandler(records)
    try:
        create_app(settings)
    finally:
        logger.removeHandler(records)

    messages = [r.getMessage() for r in records.records if r.levelno == logging.WARNING]
    if rate_limits_enabled:
        assert messages == []
    else:
        assert len(messages) == 1
        assert "AUTH_RATE_LIMITS_ENABLED=false in production" in messages[0]
        assert "/device" in messages[0]
