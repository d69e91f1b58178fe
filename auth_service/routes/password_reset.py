"""/password/forgot and /password/reset: a new password through a mailed link (README "Forgot
password"; the rules are in `identity.password_reset`)."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from auth_service.audit import Auditor
from auth_service.config import AuthSettings
from auth_service.deps import (
    AuditorDep,
    ClientIp,
    FormDep,
    HasherDep,
    Now,
    ReposDep,
    SettingsDep,
    ThrottleDep,
)
from auth_service.identity.accounts import AccountError, password_problems
from auth_service.identity.password_check import too_many_attempts, with_retry_after
from auth_service.identity.password_reset import complete_reset, reset_user, send_link
from auth_service.mail.outbox import Outbox
from auth_service.security.secrets import hash_token
from auth_service.throttling.addresses import address_group
from auth_service.throttling.policy import Throttle, Window
from auth_service.unit_of_work import UnitOfWork
from auth_service.web.pages import (
    FORM_EXPIRED,
    clear_session_cookie,
    cookie_name,
    csrf_ok,
    render,
    render_form,
)
from shared.errors import TooManyRequestsError

router = APIRouter(tags=["pages"], include_in_schema=False)
logger = logging.getLogger(__name__)
FORGOT_PATH, RESET_PATH = "/password/forgot", "/password/reset"
RESET_COOKIE = "myauth_reset"
RESET_COOKIE_MAX_AGE = 900  # enough to choose a password; the token's own expiry still applies
RESET_IP = "reset-ip"  # forms per address
LINK_DEAD = "This link has expired or was already used. Ask for a new one below."


def _outbox(request: Request) -> Outbox | None:
    outbox: Outbox | None = request.app.state.outbox
    return outbox


def _not_offered(request: Request) -> Response:
    return render(
        request,
        "password_unavailable.html",
        {"title": "Password reset is not available"},
        status_code=404,
    )


def _forgot_page(
    request: Request, *, email: str = "", error: str | None = None, notice: str | None = None,
    status_code: int = 200,
) -> Response:  # fmt: skip
    return render_form(
        request,
        "password_forgot.html",
        {"title": "Forgot your password?", "email": email, "error": error, "notice": notice},
        purpose="password-forgot",
        status_code=status_code,
    )


@router.get(FORGOT_PATH)
async def forgot_form(request: Request) -> Response:
    if _outbox(request) is None:
        return _not_offered(request)
    return _forgot_page(request)


@router.post(FORGOT_PATH)
async def forgot(
    request: Request, form: FormDep, throttle: ThrottleDep, settings: SettingsDep,
    ip: ClientIp, audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    outbox = _outbox(request)
    if outbox is None:
        return _not_offered(request)
    email = form.get("email", "").strip()
    if not csrf_ok(request, form, purpose="password-forgot"):
        return _forgot_page(request, email=email, error=FORM_EXPIRED, status_code=400)
    if not email or len(email) > 254 or "@" not in email:
        return _forgot_page(
            request, email=email, error="Enter the email address of your account.",
            status_code=400,
        )  # fmt: skip
    address = address_group(ip)
    try:
        await throttle.check_delay(RESET_IP, address)
    except TooManyRequestsError as error:
        audit.record("password_reset_throttled", details=error.description)
        page = _forgot_page(request, email=email, error=too_many_attempts(error), status_code=429)
        return with_retry_after(page, error)
    await throttle.count(RESET_IP, address, Window(settings.password_reset_limit_per_ip, 3600))
    # The same page, sent before anything depends on whether the address has an account: the
    # lookup and the mail run after the answer has left (OWASP: same answer, same time).
    page = _forgot_page(
        request,
        notice=(
            f"If an account uses {email}, a link to choose a new password is on its way there. "
            f"It works for {settings.password_reset_ttl // 60} minutes."
        ),
    )
    request_id, client_ip = getattr(request.state, "request_id", None), ip
    page.background = BackgroundTask(
        _send_link_after_answer, request, outbox, throttle, settings, email, now,
        request_id, client_ip,
    )  # fmt: skip
    return page


async def _send_link_after_answer(
    request: Request, outbox: Outbox, throttle: Throttle, settings: AuthSettings, email: str,
    now: datetime, request_id: str | None, ip: str | None,
) -> None:  # fmt: skip
    try:
        async with UnitOfWork.of_app(request.app.state) as uow:
            events = request.app.state.metrics.audit_events
            audit = Auditor(
                uow, now=now, request_id=request_id, ip=ip,
                count=lambda event: events.labels(event).inc(),
            )  # fmt: skip
            queued = await send_link(uow.repos, outbox, throttle, settings, audit, email, now)
    except Exception as exc:  # noqa: BLE001 - the answer has left; nothing may reach the server
        # The type only: the database error's text would carry the address.
        logger.warning("password reset link not queued: %s", type(exc).__name__)
        return
    if queued:
        outbox.wake.set()


def _dead_link(request: Request) -> Response:
    response = _forgot_page(request, error=LINK_DEAD, status_code=400)
    _clear_reset_cookie(request, response)
    return response


def _reset_cookie(request: Request) -> str:
    return request.cookies.get(cookie_name(request, RESET_COOKIE), "")


def _clear_reset_cookie(request: Request, response: Response) -> None:
    settings: AuthSettings = request.app.state.settings
    response.delete_cookie(
        cookie_name(request, RESET_COOKIE), httponly=True, samesite="lax",
        secure=settings.cookie_secure, path="/",
    )  # fmt: skip


def _reset_page(
    request: Request, token: str, username: str, *, error: str | None = None,
    status_code: int = 200,
) -> Response:  # fmt: skip
    return render_form(
        request,
        "password_reset.html",
        {"title": "Choose a new password", "username": username, "error": error},
        purpose="password-reset",
        request_id=hash_token(token),  # the form is good for this link only
        status_code=status_code,
    )


@router.get(RESET_PATH)
async def reset_form(request: Request, repos: ReposDep, now: Now, token: str = "") -> Response:
    if _outbox(request) is None:
        return _not_offered(request)
    if token:
        # The link's token moves into a cookie at once, so it sits neither in the address bar
        # nor in any Referer, and the page that reads it has a plain URL (OWASP).
        if await reset_user(repos, token, now) is None:
            return _dead_link(request)
        response = RedirectResponse(RESET_PATH, status_code=303)
        response.headers["Cache-Control"] = "no-store"
        settings: AuthSettings = request.app.state.settings
        response.set_cookie(
            cookie_name(request, RESET_COOKIE), token, max_age=RESET_COOKIE_MAX_AGE,
            httponly=True, samesite="lax", secure=settings.cookie_secure, path="/",
        )  # fmt: skip
        return response
    token = _reset_cookie(request)
    user = await reset_user(repos, token, now)
    if user is None:
        return _dead_link(request)
    return _reset_page(request, token, user.username)


@router.post(RESET_PATH)
async def reset(
    request: Request, form: FormDep, repos: ReposDep, hasher: HasherDep, settings: SettingsDep,
    audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    outbox = _outbox(request)
    if outbox is None:
        return _not_offered(request)
    token = _reset_cookie(request)
    user = await reset_user(repos, token, now)
    if user is None:
        return _dead_link(request)
    if not csrf_ok(request, form, purpose="password-reset", request_id=hash_token(token)):
        return _reset_page(request, token, user.username, error=FORM_EXPIRED, status_code=400)
    new_password = form.get("new_password", "")
    try:
        password_problems(new_password, username=user.username, email=user.email)
    except AccountError as error:
        return _reset_page(request, token, user.username, error=str(error), status_code=400)
    password_hash = await hasher.hash(new_password)
    revoked = await complete_reset(repos, outbox, settings, user, token, password_hash, now)
    if revoked is None:  # another tab spent the link meanwhile
        return _dead_link(request)
    audit.record("password_reset", user_id=user.id, grants_revoked=revoked)
    response = RedirectResponse("/login?notice=password-reset", status_code=303)
    _clear_reset_cookie(request, response)
    clear_session_cookie(request, response)
    response.background = BackgroundTask(outbox.wake.set)
    return response
