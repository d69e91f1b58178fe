"""GET/POST /signup: a person creates an account (on by default for local use; AUTH_SIGNUP_ENABLED)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from auth_service.deps import (
    AuditorDep,
    ClientIp,
    FormDep,
    HasherDep,
    Now,
    ReposDep,
    SettingsDep,
    ThrottleDep,
    session_lifetime,
)
from auth_service.identity.accounts import AccountError, create_user
from auth_service.identity.authentication import start_session
from auth_service.identity.browsers import BrowserInfo
from auth_service.identity.email_verification import send_verification
from auth_service.mail.outbox import Outbox
from auth_service.routes.login import safe_next
from auth_service.web.pages import (
    FORM_EXPIRED,
    csrf_ok,
    render_form,
    session_cookie_of,
    session_hash_of,
    set_session_cookie,
)
from shared.errors import TooManyRequestsError

router = APIRouter(tags=["pages"], include_in_schema=False)


def _page(
    request: Request, *, values: dict[str, str], next_path: str | None, error: str | None = None,
    status_code: int = 200,
) -> Response:  # fmt: skip
    return render_form(
        request,
        "signup.html",
        {"title": "Create your account", "values": values, "next": next_path or "", "error": error},
        purpose="signup",
        session_hash=session_hash_of(request),
        status_code=status_code,
    )


@router.get("/signup")
async def signup_form(request: Request, settings: SettingsDep, next: str = "") -> Response:
    if not settings.signup_enabled:
        raise HTTPException(status_code=404)
    return _page(request, values={}, next_path=safe_next(next))


@router.post("/signup")
async def signup(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    hasher: HasherDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    ip: ClientIp,
    audit: AuditorDep,
    now: Now,
) -> Response:
    if not settings.signup_enabled:
        raise HTTPException(status_code=404)
    values = {name: form.get(name, "")[:254] for name in ("username", "email", "name")}
    next_path = safe_next(form.get("next"))
    if not csrf_ok(request, form, purpose="signup", session_hash=session_hash_of(request)):
        return _page(
            request, values=values, next_path=next_path, error=FORM_EXPIRED, status_code=400
        )
    try:
        await throttle.hit_address("signup-ip", ip, throttle.policy.signup_per_ip)
        user = await create_user(
            repos, hasher, username=values["username"], email=form.get("email", ""),
            password=form.get("password", ""), name=values["name"] or values["username"], now=now,
        )  # fmt: skip
    except TooManyRequestsError as error:
        response = _page(
            request, values=values, next_path=next_path, error=error.description, status_code=429
        )
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except AccountError as error:
        return _page(request, values=values, next_path=next_path, error=str(error), status_code=400)
    new = await start_session(
        repos, user, now=now, lifetime=session_lifetime(settings),
        replaces=session_cookie_of(request),
        browser=BrowserInfo.of(request.headers.get("user-agent"), ip),
    )  # fmt: skip
    audit.record("signup", user_id=user.id)
    response = RedirectResponse(next_path or "/account", status_code=303)
    set_session_cookie(request, response, new.cookie_value, settings.session_ttl)
    outbox: Outbox | None = request.app.state.outbox
    if outbox is not None:  # OIDC Core §5.1: email_verified stays false until the link is used
        await send_verification(repos, outbox, throttle, settings, user, now)
        response.background = BackgroundTask(outbox.wake.set)
    return response
