"""/account: the signed-in user's profile and password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

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
from auth_service.identity.password_check import (
    recheck_password,
    too_many_attempts,
    with_retry_after,
)
from auth_service.web.pages import FORM_EXPIRED, csrf_ok, render_form

router = APIRouter(tags=["pages"], include_in_schema=False)
ACCOUNT_PATH = "/account"
# The forms of this page post elsewhere; after a login the user comes back to the page.
AccountUser = Annotated[SignedIn, Depends(signed_in(ACCOUNT_PATH))]
MESSAGES = {
    "profile": "Your profile was saved.",
    "password": "Your password was changed. Your other sessions were signed out.",
    "second-factor-on": "Two-step verification is on.",
    "second-factor-off": "Two-step verification is off.",
}


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
    if problem is None and email.lower() != user.email:
        if await repos.users.get_by_email(email) is not None:
            problem = "That email address is already registered."
    if problem is None and not await repos.users.update_profile(
        user, name=name, email=email, now=now
    ):
        problem = "That email address is already registered."
    if problem is not None:
        return account_page(request, me, error=problem, error_in="profile", status_code=400)
    audit.record("profile_updated", user_id=user.id)
    return RedirectResponse(f"{ACCOUNT_PATH}?message=profile", status_code=303)


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
    # Whoever else knew the old password is signed out everywhere but here.
    await repos.sessions.delete_all_for_user(user.id, except_hash=session.id_hash)
    audit.record("password_changed", user_id=user.id)
    return RedirectResponse(f"{ACCOUNT_PATH}?message=password", status_code=303)
