"""/account: the signed-in user's profile and password."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from auth_service.config import AuthSettings
from auth_service.deps import (
    AuditorDep,
    FormDep,
    HasherDep,
    Now,
    ReposDep,
    SignedIn,
    ThrottleDep,
    signed_in,
)
from auth_service.identity.accounts import AccountError, password_problems, profile_problems
from auth_service.identity.credential_change import end_other_access
from auth_service.identity.email_verification import send_verification
from auth_service.identity.password_check import (
    recheck_password,
    too_many_attempts,
    with_retry_after,
)
from auth_service.identity.password_reset import queue_password_notice
from auth_service.mail.outbox import Outbox
from auth_service.repositories import Repositories
from auth_service.repositories.users import normalize_email
from auth_service.web.pages import FORM_EXPIRED, csrf_ok, render_form, set_session_cookie

router = APIRouter(tags=["pages"], include_in_schema=False)
ACCOUNT_PATH = "/account"
# The forms of this page post elsewhere; after a login the user comes back to the page.
AccountUser = Annotated[SignedIn, Depends(signed_in(ACCOUNT_PATH))]
SIGNED_OUT_ELSEWHERE = "You were signed out everywhere else, and apps you use must sign in again."
MESSAGES = {
    "profile": "Your profile was saved.",
    "password": f"Your password was changed. {SIGNED_OUT_ELSEWHERE}",
    "second-factor-on": f"Two-step verification is on. {SIGNED_OUT_ELSEWHERE}",
    "second-factor-off": f"Two-step verification is off. {SIGNED_OUT_ELSEWHERE}",
    "second-factor-codes": f"Your old recovery codes no longer work. {SIGNED_OUT_ELSEWHERE}",
    "verification-sent": "A link to confirm your email address is on its way there.",
    "email-verified": "Your email address is confirmed already.",
}


async def end_other_access_for(
    request: Request, response: Response, repos: Repositories, me: SignedIn, now: datetime
) -> int:
    """After a credential change: this browser gets a new session id (set on `response`), every
    other session ends and every grant is revoked (see `identity.credential_change`).

    Returns how many grants were revoked, for the audit record.
    """
    ended = await end_other_access(repos, me.session, now=now)
    settings: AuthSettings = request.app.state.settings
    absolute_end = me.session.created_at + timedelta(seconds=settings.session_ttl)
    max_age = max(0, int((absolute_end - now).total_seconds()))
    set_session_cookie(request, response, ended.session.cookie_value, max_age)
    return ended.grants_revoked


def account_page(
    request: Request, me: SignedIn, *, message: str = "", error: str | None = None,
    error_in: str = "", status_code: int = 200,
) -> Response:  # fmt: skip
    return render_form(
        request,
        "account.html",
        {
            "title": "Your account",
            "user": me.user,
            "message": MESSAGES.get(message),
            "error": error,
            "error_in": error_in,
            "mail_enabled": request.app.state.outbox is not None,
        },
        purpose="account",
        session_hash=me.session.id_hash,
        status_code=status_code,
    )


@router.get(ACCOUNT_PATH)
async def account(request: Request, me: AccountUser, message: str = "") -> Response:
    return account_page(request, me, message=message)


@router.post(f"{ACCOUNT_PATH}/profile")
async def update_profile(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    me: AccountUser,
    audit: AuditorDep,
    now: Now,
) -> Response:
    user, session = me.user, me.session
    if not csrf_ok(request, form, purpose="account", session_hash=session.id_hash):
        return account_page(request, me, error=FORM_EXPIRED, error_in="profile", status_code=400)
    name, email = form.get("name", "").strip()[:200], form.get("email", "").strip()
    problem = profile_problems(email)
    changed = normalize_email(email) != user.email
    if problem is None and changed:
        if await repos.users.get_by_email(email) is not None:
            problem = "That email address is already registered."
    if problem is None and not await repos.users.update_profile(
        user, name=name, email=email, now=now
    ):
        problem = "That email address is already registered."
    if problem is not None:
        return account_page(request, me, error=problem, error_in="profile", status_code=400)
    audit.record("profile_updated", user_id=user.id)
    response = RedirectResponse(f"{ACCOUNT_PATH}?message=profile", status_code=303)
    outbox: Outbox | None = request.app.state.outbox
    if outbox is not None and changed:  # a new address, unverified until proven
        fresh = await repos.users.get_by_id(user.id)
        assert fresh is not None  # noqa: S101 - the signed-in user's own row
        await send_verification(
            repos, outbox, request.app.state.throttle, request.app.state.settings, fresh, now
        )
        response.background = BackgroundTask(outbox.wake.set)
    return response


@router.post(f"{ACCOUNT_PATH}/password")
async def change_password(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    hasher: HasherDep,
    throttle: ThrottleDep,
    me: AccountUser,
    audit: AuditorDep,
    now: Now,
) -> Response:
    user, session = me.user, me.session

    def failed(error: str, status_code: int = 400) -> Response:
        return account_page(request, me, error=error, error_in="password", status_code=status_code)

    if not csrf_ok(request, form, purpose="account", session_hash=session.id_hash):
        return failed(FORM_EXPIRED)
    check = await recheck_password(throttle, hasher, user, form.get("current_password", ""))
    if check.throttled is not None:
        return with_retry_after(failed(too_many_attempts(check.throttled), 429), check.throttled)
    if not check.ok:
        audit.record("password_change_failed", user_id=user.id)
        return failed("Your current password is not right.")
    new_password = form.get("new_password", "")
    try:
        password_problems(new_password, username=user.username, email=user.email)
    except AccountError as error:
        return failed(str(error))
    await repos.users.set_password_hash(user.id, await hasher.hash(new_password), now)
    # Whoever else knew the old password is signed out everywhere, and their apps with it.
    response = RedirectResponse(f"{ACCOUNT_PATH}?message=password", status_code=303)
    revoked = await end_other_access_for(request, response, repos, me, now)
    audit.record("password_changed", user_id=user.id, grants_revoked=revoked)
    outbox: Outbox | None = request.app.state.outbox
    if outbox is not None:  # OWASP: the owner hears of it, with the way back if it was not them
        await queue_password_notice(
            repos, outbox, request.app.state.settings, user, now, reset=False
        )
        response.background = BackgroundTask(outbox.wake.set)
    return response
