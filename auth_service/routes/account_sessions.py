"""/account/sessions: where the person is signed in, and signing out one browser or all others
(README "Sessions"; OWASP Session Management Cheat Sheet, ASVS 5.0 V7.5.2).

A session is named on the page by a handle derived from its stored digest, never by the digest
itself: the page is HTML a browser may cache or an extension may read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from auth_service.deps import AuditorDep, FormDep, Now, ReposDep, SignedIn, signed_in
from auth_service.identity.browsers import describe
from auth_service.routes.account import ACCOUNT_PATH
from auth_service.web.pages import FORM_EXPIRED, csrf_ok, render_form
from shared.models import UserSession

router = APIRouter(tags=["pages"], include_in_schema=False)
SESSIONS_PATH = f"{ACCOUNT_PATH}/sessions"
# Anyone signed out is sent to sign in, then back to this page.
PageUser = Annotated[SignedIn, Depends(signed_in(SESSIONS_PATH))]
MESSAGES = {
    "ended": "That browser is signed out.",
    "others-ended": "Every other browser is signed out.",
    "gone": "That browser was signed out already.",
}


@dataclass(frozen=True, slots=True)
class SessionRow:
    handle: str
    browser: str
    address: str
    started: str
    last_seen: str
    current: bool


def handle_of(session: UserSession) -> str:
    return hashlib.sha256(f"session handle {session.id_hash}".encode()).hexdigest()[:24]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "unknown"


def _page(
    request: Request, me: PageUser, sessions: list[UserSession], *, message: str = "",
    error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    rows = [
        SessionRow(
            handle=handle_of(s),
            browser=describe(s.user_agent),
            address=s.ip or "unknown",
            started=_when(s.created_at),
            last_seen=_when(s.last_seen_at),
            current=s.id_hash == me.session.id_hash,
        )
        for s in sessions
    ]
    rows.sort(key=lambda row: not row.current)  # this browser first
    return render_form(
        request,
        "account_sessions.html",
        {"title": "Where you are signed in", "sessions": rows, "message": MESSAGES.get(message),
         "error": error, "others": len(rows) > 1},
        purpose="account-sessions",
        session_hash=me.session.id_hash,
        status_code=status_code,
    )  # fmt: skip


@router.get(SESSIONS_PATH)
async def sessions(
    request: Request, repos: ReposDep, me: PageUser, now: Now, message: str = ""
) -> Response:
    return _page(request, me, list(await repos.sessions.list_signed_in(me.user.id, now)),
                 message=message)  # fmt: skip


@router.post(f"{SESSIONS_PATH}/end")
async def end_one(
    request: Request, form: FormDep, repos: ReposDep, me: PageUser, audit: AuditorDep, now: Now
) -> Response:
    signed_in = list(await repos.sessions.list_signed_in(me.user.id, now))
    if not csrf_ok(request, form, purpose="account-sessions", session_hash=me.session.id_hash):
        return _page(request, me, signed_in, error=FORM_EXPIRED, status_code=400)
    target = next((s for s in signed_in if handle_of(s) == form.get("session")), None)
    if target is None:
        return RedirectResponse(f"{SESSIONS_PATH}?message=gone", status_code=303)
    if target.id_hash == me.session.id_hash:
        return RedirectResponse("/logout", status_code=303)  # this browser: the usual sign-out
    await repos.sessions.delete(target.id_hash)
    audit.record("session_ended", user_id=me.user.id, browser=describe(target.user_agent))
    return RedirectResponse(f"{SESSIONS_PATH}?message=ended", status_code=303)


@router.post(f"{SESSIONS_PATH}/end-others")
async def end_others(
    request: Request, form: FormDep, repos: ReposDep, me: PageUser, audit: AuditorDep, now: Now
) -> Response:
    if not csrf_ok(request, form, purpose="account-sessions", session_hash=me.session.id_hash):
        signed_in = list(await repos.sessions.list_signed_in(me.user.id, now))
        return _page(request, me, signed_in, error=FORM_EXPIRED, status_code=400)
    await repos.sessions.delete_all_for_user(me.user.id, except_hash=me.session.id_hash)
    audit.record("other_sessions_ended", user_id=me.user.id)
    return RedirectResponse(f"{SESSIONS_PATH}?message=others-ended", status_code=303)
