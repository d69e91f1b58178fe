"""/email/verify (the mailed link) and /account/email/verify ("send again"), README "Verified
email"; the rules are in `identity.email_verification`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from auth_service.deps import AuditorDep, FormDep, Now, ReposDep, SettingsDep, ThrottleDep
from auth_service.identity.email_verification import send_verification, verify
from auth_service.mail.outbox import Outbox
from auth_service.routes.account import ACCOUNT_PATH, AccountUser, account_page
from auth_service.web.pages import FORM_EXPIRED, csrf_ok, render

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/email/verify")
async def verify_link(
    request: Request, repos: ReposDep, audit: AuditorDep, now: Now, token: str = ""
) -> Response:
    user = await verify(repos, token, now)
    if user is None:
        return render(
            request,
            "email_verified.html",
            {"title": "This link does not work", "user": None},
            status_code=400,
        )
    audit.record("email_verified", user_id=user.id)
    return render(
        request, "email_verified.html", {"title": "Email address confirmed", "user": user}
    )


@router.post(f"{ACCOUNT_PATH}/email/verify")
async def send_again(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    throttle: ThrottleDep,
    settings: SettingsDep,
    me: AccountUser,
    audit: AuditorDep,
    now: Now,
) -> Response:
    outbox: Outbox | None = request.app.state.outbox
    if outbox is None:
        return account_page(
            request, me, error="This service sends no mail.", error_in="profile", status_code=404
        )
    if not csrf_ok(request, form, purpose="account", session_hash=me.session.id_hash):
        return account_page(request, me, error=FORM_EXPIRED, error_in="profile", status_code=400)
    if me.user.email_verified:
        return RedirectResponse(f"{ACCOUNT_PATH}?message=email-verified", status_code=303)
    if not await send_verification(repos, outbox, throttle, settings, me.user, now):
        response = account_page(
            request, me, error="Too many links were sent this hour. Try again later.",
            error_in="profile", status_code=429,
        )  # fmt: skip
        response.headers["Retry-After"] = "3600"
        return response
    audit.record("email_verification_sent", user_id=me.user.id)
    response = RedirectResponse(f"{ACCOUNT_PATH}?message=verification-sent", status_code=303)
    response.background = BackgroundTask(outbox.wake.set)
    return response
