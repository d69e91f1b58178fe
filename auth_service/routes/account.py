"""/account: the signed-in user's profile and password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from auth_service.accounts import AccountError, password_problems, profile_problems
from auth_service.deps import (
    AuditorDep,
    FormDep,
    HasherDep,
    Now,
    OptionalSession,
    ReposDep,
    ThrottleDep,
)
from auth_service.pages import FORM_EXPIRED, csrf_ok, login_first, render_form
from auth_service.password_check import recheck_password, too_many_attempts, with_retry_after
from shared.models import User, UserSession

router = APIRouter(tags=["pages"], include_in_schema=False)
ACCOUNT_PATH = "/account"
MESSAGES = {
    "profile": "Your profile was saved.",
    "password": "Your password was changed. Your other sessions were signed out.",
    "second-factor-on": "Two-step verification is on.",
    "second-factor-off": "Two-step verification is off.",
}


def account_page(
    request: Request, user: User, session: UserSession, *, message: str = "", error: str | None = None,
    error_in: str = "", status_code: int = 200,
) -> Response:  # fmt: skip
    return render_form(
        request,
        "account.html",
        {
            "title": "Your account",
            "user": user,
            "message": MESSAGES.get(message),
            "error": error,
            "error_in": error_in,
        },
        purpose="account",
        session_hash=session.id_hash,
        status_code=status_code,
    )


@router.get(ACCOUNT_PATH)
async def account(
    request: Request, repos: ReposDep, session: OptionalSession, message: str = ""
) -> Response:
    user = await repos.users.get_by_id(session.user_id) if session else None
    if session is None or user is None:
        return login_first(ACCOUNT_PATH)
    return account_page(request, user, session, message=message)


@router.post(f"{ACCOUNT_PATH}/profile")
async def update_profile(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    session: OptionalSession,
    audit: AuditorDep,
    now: Now,
) -> Response:
    user = await repos.users.get_by_id(session.user_id) if session else None
    if session is None or user is None:
        return login_first(ACCOUNT_PATH)
    if not csrf_ok(request, form, purpose="account", session_hash=session.id_hash):
        return account_page(
            request, user, session, error=FORM_EXPIRED, error_in="profile", status_code=400
        )
    name, email = form.get("name", "").strip()[:200], form.get("email", "").strip()
    problem = profile_problems(email)
    if problem is None and email.lower() != user.email:
        if await repos.users.get_by_email(email) is not None:
            problem = "That email address is already registered."
    if problem is None and not await repos.users.update_profile(
        user, name=name, email=email, now=now
    ):
        problem = "That email address is already registered."
    if problem is not None:
        return account_page(
            request, user, session, error=problem, error_in="profile", status_code=400
        )
    audit.record("profile_updated", user_id=user.id)
    return RedirectResponse(f"{ACCOUNT_PATH}?message=profile", status_code=303)


@router.post(f"{ACCOUNT_PATH}/password")
async def change_password(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    hasher: HasherDep,
    throttle: ThrottleDep,
    session: OptionalSession,
    audit: AuditorDep,
    now: Now,
) -> Response:
    user = await repos.users.get_by_id(session.user_id) if session else None
    if session is None or user is None:
        return login_first(ACCOUNT_PATH)

    def failed(error: str, status_code: int = 400) -> Response:
        return account_page(
            request, user, session, error=error, error_in="password", status_code=status_code
        )

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
    # Whoever else knew the old password is signed out everywhere but here.
    await repos.sessions.delete_all_for_user(user.id, except_hash=session.id_hash)
    audit.record("password_changed", user_id=user.id)
    return RedirectResponse(f"{ACCOUNT_PATH}?message=password", status_code=303)
