"""GET/POST /login (the password) and /login/second-factor (TOTP or a recovery code)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from auth_service.deps import (
    AuditorDep,
    ClientIp,
    FormDep,
    HasherDep,
    Now,
    ReposDep,
    SecretBoxDep,
    SettingsDep,
    SignInThrottleDep,
    session_lifetime,
    stored_client,
)
from auth_service.identity import second_factor
from auth_service.identity.authentication import authenticate_user, current_session, start_session
from auth_service.identity.browsers import BrowserInfo
from auth_service.identity.passkeys import RelyingParty
from auth_service.identity.password_check import too_many_attempts, with_retry_after
from auth_service.identity.sign_in_notice import queue_new_browser_notice
from auth_service.repositories import Repositories
from auth_service.throttling.sign_in import SignInAttempt
from auth_service.web.device_cookie import device_id_of, remember_device, sign_in_device
from auth_service.web.front_channel import error_page
from auth_service.web.pages import (
    FORM_EXPIRED,
    csrf_ok,
    render_form,
    session_cookie_of,
    session_hash_of,
    set_session_cookie,
)
from shared.errors import InvalidRequestError, TooManyRequestsError
from shared.models import PendingAuthorization, User

router = APIRouter(tags=["pages"], include_in_schema=False)

LOGIN_FAILED = "The username or password is not right."
CODE_FAILED = "That code is not right. Try the current code from your app, or a recovery code."


def safe_next(value: str | None) -> str | None:
    """A local path to return to after login; anything that could leave the site is dropped."""
    if (
        not value
        or len(value) > 512
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
    ):
        return None
    if any(ch in value for ch in "\\\r\n\t") or not value.isprintable():
        return None
    return value


async def pending_or_none(
    repos: Repositories, request_id: str, now: Now
) -> PendingAuthorization | None:
    return await repos.pending.get_active(request_id, now) if request_id else None


def _expired_request_page(request: Request) -> Response:
    return error_page(
        request,
        InvalidRequestError(
            "This sign-in request has expired or was already used. Go back to the app and try again."
        ),
    )


def after_login(pending: PendingAuthorization | None, next_path: str | None) -> str:
    return f"/consent?request_id={pending.id}" if pending else next_path or "/"


async def _login_page(
    request: Request,
    repos: Repositories,
    pending: PendingAuthorization | None,
    *,
    username: str = "",
    next_path: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    client = await stored_client(request, repos, pending.client_id) if pending else None
    request_id = pending.id if pending else ""
    return render_form(
        request,
        "login.html",
        {
            "title": "Sign in",
            "client_name": client.name if client else None,
            "published_by": client.published_by if client else None,
            "request_id": request_id,
            "next": next_path or "",
            "username": username,
            "error": error,
            "signup_enabled": request.app.state.settings.signup_enabled,
            "forgot_enabled": request.app.state.outbox is not None,
            "passkeys_enabled": RelyingParty.of(request.app.state.settings.issuer) is not None,
            "notice": notice,
            "upstreams": await repos.upstreams.list(),
        },
        purpose="login",
        request_id=request_id,
        session_hash=session_hash_of(request),
        status_code=status_code,
    )


NOTICES = {
    "password-reset": "Your password was changed. Sign in with the new one.",
    "upstream-link": (
        "An account here has the email address that provider gave. If it is yours, sign in to "
        "it, and you can then sign in with that provider too."
    ),
}


@router.get("/login")
async def login_form(
    request: Request,
    repos: ReposDep,
    now: Now,
    request_id: str = "",
    next: str = "",
    notice: str = "",
) -> Response:
    pending = await pending_or_none(repos, request_id, now)
    if request_id and pending is None:
        return _expired_request_page(request)
    hint = (pending.params.get("login_hint") or "") if pending else ""
    return await _login_page(
        request, repos, pending, username=hint, next_path=safe_next(next),
        notice=NOTICES.get(notice),
    )  # fmt: skip


@router.post("/login")
async def login(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    hasher: HasherDep,
    settings: SettingsDep,
    sign_in: SignInThrottleDep,
    ip: ClientIp,
    audit: AuditorDep,
    now: Now,
) -> Response:
    request_id = form.get("request_id", "")
    pending = await pending_or_none(repos, request_id, now)
    if request_id and pending is None:
        return _expired_request_page(request)
    username, next_path = form.get("username", "")[:254], safe_next(form.get("next"))

    async def page(error: str, status_code: int) -> Response:
        return await _login_page(
            request, repos, pending, username=username, next_path=next_path, error=error,
            status_code=status_code,
        )  # fmt: skip

    if not csrf_ok(
        request, form, purpose="login", request_id=request_id, session_hash=session_hash_of(request)
    ):
        return await page(FORM_EXPIRED, 400)
    device = await sign_in_device(request, repos, sign_in, username, now)
    attempt = SignInAttempt.of(username, ip, device)
    try:
        await sign_in.check(attempt)
    except TooManyRequestsError as error:
        audit.record("login_throttled", details=error.description)
        return with_retry_after(await page(too_many_attempts(error), 429), error)
    user = await authenticate_user(repos, hasher, username, form.get("password", ""), now)
    if user is None:
        await sign_in.failed(attempt)
        audit.record("login_failed", client_id=pending.client_id if pending else None)
        return await page(LOGIN_FAILED, 400)
    await sign_in.succeeded(attempt)
    client_id = pending.client_id if pending else None
    browser = BrowserInfo.of(request.headers.get("user-agent"), ip)
    if user.has_second_factor:
        new = await start_session(
            repos, user, now=now, lifetime=session_lifetime(settings),
            second_factor_pending=True, replaces=session_cookie_of(request), browser=browser,
        )  # fmt: skip
        audit.record("login_password_ok", user_id=user.id, client_id=client_id)
        query = urlencode({"request_id": request_id, "next": next_path or ""})
        response = RedirectResponse(f"/login/second-factor?{query}", status_code=303)
    else:
        new = await start_session(
            repos,
            user,
            now=now,
            lifetime=session_lifetime(settings),
            replaces=session_cookie_of(request),
            browser=browser,
        )
        audit.record("login_succeeded", user_id=user.id, client_id=client_id)
        response = RedirectResponse(after_login(pending, next_path), status_code=303)
        await notice_if_new_browser(request, response, repos, user, browser, now)
        remember_device(request, response, user.id, now)
    set_session_cookie(request, response, new.cookie_value, settings.session_ttl)
    return response


async def notice_if_new_browser(
    request: Request, response: Response, repos: Repositories, user: User, browser: BrowserInfo,
    now: datetime,
) -> None:  # fmt: skip
    """Before `remember_device`: a browser without the account's device cookie is new to it."""
    if device_id_of(request, user.id, now) is not None:
        return
    outbox = request.app.state.outbox
    if await queue_new_browser_notice(
        repos, outbox, request.app.state.settings, user, browser, now
    ):
        response.background = BackgroundTask(outbox.wake.set)


def _second_factor_page(
    request: Request, request_id: str, next_path: str | None, *, error: str | None = None,
    status_code: int = 200, passkey: bool = False,
) -> Response:  # fmt: skip
    return render_form(
        request,
        "second_factor.html",
        {
            "title": "Two-step verification",
            "request_id": request_id,
            "next": next_path or "",
            "error": error,
            "passkey": passkey,
        },
        purpose="second-factor",
        request_id=request_id,
        session_hash=session_hash_of(request),
        status_code=status_code,
    )


@router.get("/login/second-factor")
async def second_factor_form(
    request: Request, repos: ReposDep, now: Now, request_id: str = "", next: str = ""
) -> Response:
    pending_login = await current_session(
        repos, session_cookie_of(request), now, second_factor_pending=True
    )
    if pending_login is None:
        return RedirectResponse(
            f"/login?{urlencode({'request_id': request_id, 'next': next})}", 303
        )
    passkey = RelyingParty.of(request.app.state.settings.issuer) is not None and bool(
        await repos.passkeys.list_for_user(pending_login.user_id)
    )
    return _second_factor_page(request, request_id, safe_next(next), passkey=passkey)


@router.post("/login/second-factor")
async def second_factor_check(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    sign_in: SignInThrottleDep,
    ip: ClientIp,
    audit: AuditorDep,
    now: Now,
) -> Response:
    request_id, next_path = form.get("request_id", ""), safe_next(form.get("next"))
    pending_login = await current_session(
        repos, session_cookie_of(request), now, second_factor_pending=True
    )
    user = await repos.users.get_by_id(pending_login.user_id) if pending_login else None
    if pending_login is None or user is None:
        return RedirectResponse(f"/login?{urlencode({'request_id': request_id})}", status_code=303)
    if not csrf_ok(
        request, form, purpose="second-factor", request_id=request_id,
        session_hash=pending_login.id_hash,
    ):  # fmt: skip
        return _second_factor_page(
            request, request_id, next_path, error=FORM_EXPIRED, status_code=400
        )
    device = await sign_in.trusted_device(device_id_of(request, user.id, now))
    try:
        await sign_in.check_second_factor(pending_login.id_hash, user.id, device)
    except TooManyRequestsError as error:
        page = _second_factor_page(
            request,
            request_id,
            next_path,
            error=too_many_attempts(error),
            status_code=429,
        )
        return with_retry_after(page, error)
    method = await second_factor.verify(repos, box, user, form.get("code", "")[:64], now)
    if method is None:
        await sign_in.second_factor_failed(pending_login.id_hash, user.id, device)
        audit.record("second_factor_failed", user_id=user.id)
        return _second_factor_page(
            request, request_id, next_path, error=CODE_FAILED, status_code=400
        )
    await sign_in.second_factor_succeeded(pending_login.id_hash, user.id, device)
    audit.record("login_succeeded", user_id=user.id, second_factor=method)
    pending = await pending_or_none(repos, request_id, now)
    response = RedirectResponse(after_login(pending, next_path), status_code=303)
    # The first step's methods (a password, or an upstream provider), then the code's.
    amr = f"{pending_login.amr} otp" if method == "otp" else pending_login.amr
    await finish_sign_in(request, response, repos, user, amr=amr, ip=ip, now=now)
    return response


async def finish_sign_in(
    request: Request, response: Response, repos: Repositories, user: User, *, amr: str,
    ip: str | None, now: datetime,
) -> None:  # fmt: skip
    """The last step of every complete sign-in: a fresh session (its cookie set on `response`),
    the notice to the owner for a browser new to the account, then this browser's device
    cookie."""
    settings = request.app.state.settings
    browser = BrowserInfo.of(request.headers.get("user-agent"), ip)
    new = await start_session(
        repos, user, now=now, lifetime=session_lifetime(settings), amr=amr,
        replaces=session_cookie_of(request), browser=browser,
    )  # fmt: skip
    await notice_if_new_browser(request, response, repos, user, browser, now)
    remember_device(request, response, user.id, now)
    set_session_cookie(request, response, new.cookie_value, settings.session_ttl)
