"""Passkeys: /account/passkeys (add, list, remove) and signing in with one from the login page
(README "Passkeys"; the ceremonies are in `identity.passkeys`).

The browser side is /static/passkeys.js: it asks for options, hands them to
navigator.credentials, and posts the answer back as JSON with the page's CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from auth_service.deps import (
    AuditorDep,
    ClientIp,
    FormDep,
    Now,
    ReposDep,
    SettingsDep,
    SignedIn,
    session_lifetime,
    signed_in,
)
from auth_service.identity import passkeys
from auth_service.identity.authentication import start_session
from auth_service.identity.browsers import BrowserInfo
from auth_service.identity.passkeys import PasskeyError, RelyingParty
from auth_service.oauth.requests import parse_json_object
from auth_service.routes.account import ACCOUNT_PATH
from auth_service.routes.login import (
    after_login,
    notice_if_new_browser,
    pending_or_none,
    safe_next,
)
from auth_service.security.secrets import hash_token
from auth_service.web.device_cookie import remember_device
from auth_service.web.pages import (
    BROWSER_COOKIE,
    FORM_EXPIRED,
    cookie_name,
    csrf_ok,
    render_form,
    session_cookie_of,
    session_hash_of,
    set_session_cookie,
)
from shared.errors import InvalidRequestError

router = APIRouter(tags=["pages"], include_in_schema=False)
PASSKEYS_PATH = f"{ACCOUNT_PATH}/passkeys"
# Anyone signed out is sent to sign in, then back to this page.
PageUser = Annotated[SignedIn, Depends(signed_in(PASSKEYS_PATH))]
NO_STORE = {"Cache-Control": "no-store"}
MESSAGES = {"added": "Your passkey was added.", "removed": "The passkey was removed."}


def relying_party(request: Request) -> RelyingParty | None:
    rp: RelyingParty | None = RelyingParty.of(request.app.state.settings.issuer)
    return rp


def _problem(message: str, status_code: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code, headers=NO_STORE)


async def _json(request: Request) -> dict[str, Any]:
    try:
        return parse_json_object(await request.body(), request.headers.get("content-type"))
    except InvalidRequestError as error:
        raise PasskeyError("The request could not be read.") from error


def _browser_binding(request: Request) -> str | None:
    """The digest of the browser's CSRF key cookie: what a sign-in challenge is bound to."""
    key = request.cookies.get(cookie_name(request, BROWSER_COOKIE))
    return hash_token(key) if key and len(key) <= 128 else None


# --- /account/passkeys ---


@router.get(PASSKEYS_PATH)
async def passkeys_page(
    request: Request, repos: ReposDep, me: PageUser, message: str = "", error: str = ""
) -> Response:
    return render_form(
        request,
        "account_passkeys.html",
        {
            "title": "Passkeys",
            "passkeys": list(await repos.passkeys.list_for_user(me.user.id)),
            "available": relying_party(request) is not None,
            "issuer": request.app.state.settings.issuer,
            "message": MESSAGES.get(message),
        },
        purpose="passkeys",
        session_hash=me.session.id_hash,
    )


@router.post(f"{PASSKEYS_PATH}/options")
async def registration_options(
    request: Request, repos: ReposDep, me: PageUser, now: Now
) -> Response:
    rp = relying_party(request)
    try:
        body = await _json(request)
        if rp is None:
            raise PasskeyError("Passkeys need the service to be reached by a domain name.")
        if not csrf_ok(request, body, purpose="passkeys", session_hash=me.session.id_hash):
            raise PasskeyError(FORM_EXPIRED)
        options = await passkeys.registration_options(repos, rp, me.user, me.session.id_hash, now)
    except PasskeyError as error:
        return _problem(str(error))
    return JSONResponse(options, headers=NO_STORE)


@router.post(PASSKEYS_PATH)
async def add_passkey(
    request: Request, repos: ReposDep, me: PageUser, audit: AuditorDep, now: Now
) -> Response:
    rp = relying_party(request)
    try:
        body = await _json(request)
        if rp is None:
            raise PasskeyError("Passkeys need the service to be reached by a domain name.")
        if not csrf_ok(request, body, purpose="passkeys", session_hash=me.session.id_hash):
            raise PasskeyError(FORM_EXPIRED)
        credential, name = body.get("credential"), body.get("name", "")
        if not isinstance(credential, dict) or not isinstance(name, str):
            raise PasskeyError("The request could not be read.")
        added = await passkeys.register(
            repos, rp, me.user, me.session.id_hash, credential, name, now
        )
    except PasskeyError as error:
        audit.record("passkey_add_failed", user_id=me.user.id)
        return _problem(str(error))
    audit.record("passkey_added", user_id=me.user.id, name=added.name)
    return JSONResponse(
        {"redirect": f"{PASSKEYS_PATH}?message=added"}, status_code=201, headers=NO_STORE
    )


@router.post(f"{PASSKEYS_PATH}/remove")
async def remove_passkey(
    request: Request, form: FormDep, repos: ReposDep, me: PageUser, audit: AuditorDep
) -> Response:
    if not csrf_ok(request, form, purpose="passkeys", session_hash=me.session.id_hash):
        return RedirectResponse(PASSKEYS_PATH, status_code=303)
    if await repos.passkeys.delete(me.user.id, form.get("credential_id", "")):
        audit.record("passkey_removed", user_id=me.user.id)
    return RedirectResponse(f"{PASSKEYS_PATH}?message=removed", status_code=303)


# --- signing in with a passkey ---


@router.post("/login/passkey/options")
async def sign_in_options(request: Request, repos: ReposDep, now: Now) -> Response:
    rp, binding = relying_party(request), _browser_binding(request)
    try:
        body = await _json(request)
        request_id = str(body.get("request_id", ""))
        if rp is None:
            raise PasskeyError("Passkeys need the service to be reached by a domain name.")
        if binding is None or not csrf_ok(
            request, body, purpose="login", request_id=request_id,
            session_hash=session_hash_of(request),
        ):  # fmt: skip
            raise PasskeyError(FORM_EXPIRED)
        options = await passkeys.sign_in_options(repos, rp, binding, now)
    except PasskeyError as error:
        return _problem(str(error))
    return JSONResponse(options, headers=NO_STORE)


@router.post("/login/passkey")
async def sign_in_with_passkey(
    request: Request,
    repos: ReposDep,
    settings: SettingsDep,
    ip: ClientIp,
    audit: AuditorDep,
    now: Now,
) -> Response:
    rp, binding = relying_party(request), _browser_binding(request)
    try:
        body = await _json(request)
        request_id = str(body.get("request_id", ""))
        if rp is None or binding is None:
            raise PasskeyError(FORM_EXPIRED)
        credential = body.get("credential")
        if not isinstance(credential, dict):
            raise PasskeyError("The request could not be read.")
        pending = await pending_or_none(repos, request_id, now)
        if request_id and pending is None:
            raise PasskeyError(
                "This sign-in request has expired. Go back to the app and try again."
            )
        user, passkey = await passkeys.sign_in(repos, rp, binding, credential, now)
    except PasskeyError as error:
        audit.record("login_failed", method="passkey")
        return _problem(str(error))
    browser = BrowserInfo.of(request.headers.get("user-agent"), ip)
    new = await start_session(
        repos, user, now=now, lifetime=session_lifetime(settings), amr=passkeys.AMR,
        replaces=session_cookie_of(request), browser=browser,
    )  # fmt: skip
    audit.record(
        "login_succeeded", user_id=user.id, client_id=pending.client_id if pending else None,
        method="passkey",
    )  # fmt: skip
    next_path = safe_next(str(body.get("next", "")))
    response = JSONResponse({"redirect": after_login(pending, next_path)}, headers=NO_STORE)
    await notice_if_new_browser(request, response, repos, user, browser, now)
    remember_device(request, response, user.id, now)
    set_session_cookie(request, response, new.cookie_value, settings.session_ttl)
    return response
