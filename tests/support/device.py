"""The device authorization grant (RFC 8628) as a device and as the person at /device drive it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from auth_service.oauth.device_authorization import DEVICE_CODE_GRANT
from tests.factories import TestClient, TestUser
from tests.support.flows import csrf_from, login
from tests.support.lifecycle import post_as_client
from tests.support.token_endpoint import ClientAuth, post_token

DEVICE_SCOPE = "openid read:notes write:notes offline_access"


async def start_device(
    auth: httpx.AsyncClient,
    client: TestClient,
    scope: str | None = "read:notes",
    *,
    method: ClientAuth | None = None,
    **extra: str,
) -> httpx.Response:
    """POST /oauth/device_authorization as `client` (RFC 8628 §3.1)."""
    data = {"scope": scope} if scope is not None else {}
    return await post_as_client(
        auth, "/oauth/device_authorization", client, {**data, **extra}, method=method
    )


async def started(auth: httpx.AsyncClient, client: TestClient, scope: str = "read:notes") -> Any:
    response = await start_device(auth, client, scope)
    assert response.status_code == 200, response.text
    return response.json()


async def poll(
    auth: httpx.AsyncClient, client: TestClient, device_code: str, **extra: str
) -> httpx.Response:
    """The device's token request (RFC 8628 §3.4)."""
    data = {"grant_type": DEVICE_CODE_GRANT, "device_code": device_code, **extra}
    return await post_token(auth, client, data)


def consent_path(user_code: str) -> str:
    return "/device/consent?" + urlencode({"user_code": user_code})


async def enter_code(browser: httpx.AsyncClient, user_code: str) -> httpx.Response:
    """Open /device, type the code and continue, as a person would."""
    page = await browser.get("/device")
    assert page.status_code == 200, page.text
    return await browser.post(
        "/device", data={"user_code": user_code, "csrf_token": csrf_from(page.text)}
    )


async def open_device_consent(
    browser: httpx.AsyncClient, user: TestUser, user_code: str
) -> httpx.Response:
    """Enter the code, sign in when asked, and land on the device consent page."""
    response = await enter_code(browser, user_code)
    assert response.status_code == 303, response.text
    response = await browser.get(response.headers["location"])
    if response.status_code == 303 and response.headers["location"].startswith("/login"):
        next_path = httpx.URL(response.headers["location"]).params["next"]
        logged_in = await login(browser, user)
        assert logged_in.status_code == 303, logged_in.text
        response = await browser.get(next_path)
    assert response.status_code == 200, response.text
    return response


async def answer(
    browser: httpx.AsyncClient, page: httpx.Response, user_code: str, decision: str
) -> httpx.Response:
    return await browser.post(
        "/device/consent",
        data={decision: decision, "user_code": user_code, "csrf_token": csrf_from(page.text)},
    )


async def approve_device(
    browser: httpx.AsyncClient, user: TestUser, user_code: str, decision: str = "allow"
) -> httpx.Response:
    page = await open_device_consent(browser, user, user_code)
    response = await answer(browser, page, user_code, decision)
    assert response.status_code == 200, response.text
    return response
