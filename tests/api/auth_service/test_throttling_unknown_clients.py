"""Failed client authentication with ids that do not exist: counted per address, never per id,
so random ids cannot crowd the counter store and evict real login delays."""

from __future__ import annotations

import dataclasses
import secrets

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.throttling.policy import Window
from tests.support.assertions import assert_oauth_error


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(update={"unknown_client_limit_per_ip": 3})


async def test_unknown_client_ids_are_limited_per_address_and_leave_no_per_client_keys(
    auth_app: FastAPI, auth_client: httpx.AsyncClient
) -> None:
    store = auth_app.state.throttle.store
    answers = []
    for _ in range(4):
        answers.append(
            await auth_client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(secrets.token_hex(8), "whatever"),
            )
        )

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert_oauth_error(answers[-1], "temporarily_unavailable", status=429)
    assert not any(key.startswith("client-auth-fail") for key in store._entries)


async def test_authorize_requests_are_limited_per_address(
    auth_app: FastAPI, auth_client: httpx.AsyncClient
) -> None:
    throttle = auth_app.state.throttle
    throttle.policy = dataclasses.replace(throttle.policy, authorize_per_ip=Window(2, 60))

    answers = [await auth_client.get("/oauth/authorize?client_id=nobody") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [400, 400, 429]
    # The user's browser gets our error page, not JSON, and is told when to try again.
    assert answers[2].headers["content-type"].startswith("text/html")
    assert int(answers[2].headers["retry-after"]) >= 1
