"""/account/delete: a person deletes their account, after typing their password again (README
"Deleting an account"; what goes is decided in `identity.account_deletion`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from auth_service.deps import (
    AuditorDep,
    FormDep,
    HasherDep,
    Now,
    ReposDep,
    SettingsDep,
    SignedIn,
    ThrottleDep,
    signed_in,
)
from auth_service.identity.account_deletion import delete_account, opaque_id
from auth_service.identity.password_check import (
    recheck_password,
    too_many_attempts,
    with_retry_after,
)
from auth_service.mail.outbox import Outbox
from auth_service.routes.account import ACCOUNT_PATH
from auth_service.unit_of_work import UnitOfWork
from auth_service.web.pages import FORM_EXPIRED, clear_session_cookie, csrf_ok, render, render_form

router = APIRouter(tags=["pages"], include_in_schema=False)
DELETE_PATH = f"{ACCOUNT_PATH}/delete"
# Anyone signed out is sent to sign in, then back to this page.
PageUser = Annotated[SignedIn, Depends(signed_in(DELETE_PATH))]
RECENT_SIGN_IN = timedelta(minutes=10)
NOT_RECENT = (
    "You signed in more than 10 minutes ago. Sign out, sign in again with your provider, and "
    "come back."
)
NOT_YOUR_NAME = "Type your username to confirm."


def _page(
    request: Request, me: PageUser, *, error: str | None = None, status_code: int = 200
) -> Response:
    return render_form(
        request,
        "account_delete.html",
        {"title": "Delete your account", "user": me.user, "error": error},
        purpose="account-delete",
        session_hash=me.session.id_hash,
        status_code=status_code,
    )


@router.get(DELETE_PATH)
async def confirm(request: Request, me: PageUser) -> Response:
    return _page(request, me)


@router.post(DELETE_PATH)
async def delete(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    hasher: HasherDep,
    throttle: ThrottleDep,
    settings: SettingsDep,
    me: PageUser,
    audit: AuditorDep,
    now: Now,
) -> Response:
    if not csrf_ok(request, form, purpose="account-delete", session_hash=me.session.id_hash):
        return _page(request, me, error=FORM_EXPIRED, status_code=400)
    if not me.user.has_password:
        # An account that signs in only through an upstream: a sign-in of the last minutes
        # stands in for the password, and the username typed again for the intent.
        fresh = now - me.session.auth_time <= RECENT_SIGN_IN
        if not fresh or form.get("username", "").strip().lower() != me.user.username:
            audit.record("account_deletion_failed", user_id=me.user.id)
            return _page(request, me, error=NOT_RECENT if not fresh else NOT_YOUR_NAME,
                         status_code=400)  # fmt: skip
    else:
        check = await recheck_password(throttle, hasher, me.user, form.get("current_password", ""))
        if check.throttled is not None:
            page = _page(request, me, error=too_many_attempts(check.throttled), status_code=429)
            return with_retry_after(page, check.throttled)
        if not check.ok:
            audit.record("account_deletion_failed", user_id=me.user.id)
            return _page(request, me, error="Your password is not right.", status_code=400)
    outbox: Outbox | None = request.app.state.outbox
    stand_in = opaque_id()
    revoked = await delete_account(repos, outbox, settings, me.user, stand_in, now)
    audit.record("account_deleted", user_id=stand_in, grants_revoked=revoked)
    response = RedirectResponse(f"{ACCOUNT_PATH}/deleted", status_code=303)
    clear_session_cookie(request, response)
    response.background = BackgroundTask(
        _after_deletion, request.app.state, me.user.id, stand_in, outbox
    )
    return response


async def _after_deletion(state: Any, user_id: str, stand_in: str, outbox: Outbox | None) -> None:
    """Routine audit events (a token issued) reach the table from a buffer, up to half a second
    after their request: those of this instance are flushed and given the stand-in too."""
    if outbox is not None:
        outbox.wake.set()
    await state.audit_buffer.flush()
    async with UnitOfWork.of_app(state) as uow:
        await uow.repos.audit.pseudonymize(user_id, stand_in)


@router.get(f"{ACCOUNT_PATH}/deleted")
async def deleted(request: Request) -> Response:
    return render(request, "account_deleted.html", {"title": "Your account was deleted"})
