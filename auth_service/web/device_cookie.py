"""The device cookie on the wire: its name, reading it, and setting it after a full sign-in.

HttpOnly and SameSite=Lax like the session cookie, long-lived (AUTH_DEVICE_COOKIE_TTL), and under
https a `__Host-` name, so no subdomain and no plain-http page can plant or overwrite it
(RFC 6265bis section 4.1.3.2).
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from auth_service.repositories import Repositories
from auth_service.security.device_cookies import DeviceCookies
from auth_service.throttling.sign_in import SignInThrottle

DEVICE_COOKIE = "myauth_device"
SECURE_DEVICE_COOKIE = "__Host-myauth_device"


def _secure(request: Request) -> bool:
    secure: bool = request.app.state.settings.cookie_secure
    return secure


def device_cookie_name(request: Request) -> str:
    return SECURE_DEVICE_COOKIE if _secure(request) else DEVICE_COOKIE


def device_cookies(request: Request) -> DeviceCookies:
    cookies: DeviceCookies = request.app.state.device_cookies
    return cookies


def device_id_of(request: Request, user_id: str, now: datetime) -> str | None:
    """The id of this browser's device cookie for `user_id`, if it holds a valid one."""
    value = request.cookies.get(device_cookie_name(request))
    return device_cookies(request).device_id(value, user_id, int(now.timestamp()))


def remember_device(request: Request, response: Response, user_id: str, now: datetime) -> None:
    """After the last step of a successful sign-in: this browser is now known for `user_id`."""
    cookies = device_cookies(request)
    name = device_cookie_name(request)
    value = cookies.issue(request.cookies.get(name), user_id, int(now.timestamp()))
    response.set_cookie(
        name, value, max_age=cookies.max_age, httponly=True, samesite="lax",
        secure=_secure(request), path="/",
    )  # fmt: skip


async def sign_in_device(
    request: Request, repos: Repositories, sign_in: SignInThrottle, username: str, now: datetime
) -> str | None:
    """The id of the device cookie this browser holds for `username`'s account, unless failures
    locked it out; the account is looked up only when the browser has a device cookie at all."""
    if not request.cookies.get(device_cookie_name(request)):
        return None
    user = await repos.users.get_by_username(username)
    if user is None:
        return None
    return await sign_in.trusted_device(device_id_of(request, user.id, now))
