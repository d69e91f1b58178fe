"""Passkeys: /account/passkeys (add, list, remove) and signing in with one from the login page
(README "Passkeys"; the ceremonies are in `identity.passkeys`).

The browser side is /static/passkeys.js: it asks for options, hands them to
navigator.credentials, and posts the answer back as JSON with the page's CSRF token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, RedirectResponse, Response

from auth_service.deps import (
    AuditorDep,
    ClientIp,
    FormDep,
    HasherDep,
    Now,
    ReposDep,
    SignedIn,
    SignInThrottleDep,
    ThrottleDep,
    signed_in,
)
from auth_service.identity import passkeys
from auth_service.identity.authentication import current_session
from auth_service.identity.passkeys import PasskeyError, RelyingParty
from auth_service.identity.password_check import recheck_password, too_many_attempts
from auth_service.mail.messages import compose
from auth_service.mail.outbox import Outbox
from auth_service.oauth.requests import parse_json_object
from auth_service.repositories import Repositories
from auth_service.routes.account import ACCOUNT_PATH
from auth_service.routes.login import after_login, finish_sign_in, pending_or_none, safe_next
from auth_service.security.secrets import hash_token
from auth_service.web.device_cookie import device_id_of
from auth_service.web.pages import (
    BROWSER_COOKIE,
    FORM_EXPIRED,
    cookie_name,
    csrf_ok,
    render_form,
    session_cookie_of,
    session_hash_of,
)
from shared.errors import InvalidRequestError, TooManyRequestsError
from shared.models import User, UserSession

router = APIRouter(tags=["pages"], include_in_schema=False)
PASSKEYS_PATH = f"{ACCOUNT_PATH}/passkeys"
# Anyone signed out is sent to sign in, then back to this page.
PageUser = Annotated[SignedIn, Depends(signed_in(PASSKEYS_PATH))]
NO_STORE = {"Cache-Control": "no-store"}
NO_DOMAIN = "Passkeys need the service to be reached by a domain name."
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


async def _account_request(request: Request, me: SignedIn) -> tuple[RelyingParty, dict[str, Any]]:
    """The relying party and the JSON body of a request from /account/passkeys, its CSRF token
    checked against this session."""
    rp = relying_party(request)
    body = await _json(request)
    if rp is None:
        raise PasskeyError(NO_DOMAIN)
    if not csrf_ok(request, body, purpose="passkeys", session_hash=me.session.id_hash):
        raise PasskeyError(FORM_EXPIRED)
    return rp, body


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
    request: Request, repos: ReposDep, hasher: HasherDep, throttle: ThrottleDep, me: PageUser,
    audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    try:
        rp, body = await _account_request(request, me)
        # A passkey is a way in that needs no password: whoever holds only a session cookie
        # must not be able to plant one (the password is asked again, with its usual wait).
        password = body.get("current_password")
        check = await recheck_password(
            throttle, hasher, me.user, password if isinstance(password, str) else ""
        )
        if check.throttled is not None:
            return _problem(too_many_attempts(check.throttled), 429)
        if not check.ok:
            audit.record("passkey_add_failed", user_id=me.user.id, reason="password")
            raise PasskeyError("Your password is not right.")
        options = await passkeys.registration_options(repos, rp, me.user, me.session.id_hash, now)
    except PasskeyError as error:
        return _problem(str(error))
    return JSONResponse(options, headers=NO_STORE)


@router.post(PASSKEYS_PATH)
async def add_passkey(
    request: Request, repos: ReposDep, me: PageUser, audit: AuditorDep, now: Now
) -> Response:
    try:
        rp, body = await _account_request(request, me)
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
    response = JSONResponse(
        {"redirect": f"{PASSKEYS_PATH}?message=added"}, status_code=201, headers=NO_STORE
    )
    outbox: Outbox | None = request.app.state.outbox
    if outbox is not None:  # the owner hears of every new way into the account
        settings = request.app.state.settings
        letter = compose(
            "passkey_added", me.user.email, name=me.user.name or me.user.username,
            username=me.user.username, passkey=added.name,
            when=now.strftime("%Y-%m-%d at %H:%M UTC"),
            passkeys_link=f"{settings.issuer}{PASSKEYS_PATH}",
        )  # fmt: skip
        await outbox.queue(repos, letter, now)
        response.background = BackgroundTask(outbox.wake.set)
    return response


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
            raise PasskeyError(NO_DOMAIN)
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
    ip: ClientIp,
    audit: AuditorDep,
    now: Now,
) -> Response:
    rp, binding = relying_party(request), _browser_binding(request)
    try:
        body = await _json(request)
        request_id = str(body.get("request_id", ""))
        if rp is None or binding is None or not csrf_ok(
            request, body, purpose="login", request_id=request_id,
            session_hash=session_hash_of(request),
        ):  # fmt: skip
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
    audit.record(
        "login_succeeded", user_id=user.id, client_id=pending.client_id if pending else None,
        method="passkey",
    )  # fmt: skip
    next_path = safe_next(str(body.get("next", "")))
    response = JSONResponse({"redirect": after_login(pending, next_path)}, headers=NO_STORE)
    await finish_sign_in(request, response, repos, user, amr=passkeys.AMR, ip=ip, now=now)
    return response


# --- a passkey as the second step after a password ---


async def _pending_sign_in(
    request: Request, repos: Repositories, body: dict[str, Any], now: datetime
) -> tuple[UserSession, User]:
    pending_login = await current_session(
        repos, session_cookie_of(request), now, second_factor_pending=True
    )
    user = await repos.users.get_by_id(pending_login.user_id) if pending_login else None
    if pending_login is None or user is None:
        raise PasskeyError("This sign-in has expired. Sign in again.")
    if not csrf_ok(
        request, body, purpose="second-factor", request_id=str(body.get("request_id", "")),
        session_hash=pending_login.id_hash,
    ):  # fmt: skip
        raise PasskeyError(FORM_EXPIRED)
    return pending_login, user


@router.post("/login/second-factor/passkey/options")
async def second_factor_options(request: Request, repos: ReposDep, now: Now) -> Response:
    rp = relying_party(request)
    try:
        body = await _json(request)
        if rp is None:
            raise PasskeyError(NO_DOMAIN)
        pending_login, user = await _pending_sign_in(request, repos, body, now)
        options = await passkeys.second_factor_options(repos, rp, user, pending_login.id_hash, now)
    except PasskeyError as error:
        return _problem(str(error))
    return JSONResponse(options, headers=NO_STORE)


@router.post("/login/second-factor/passkey")
async def second_factor_with_passkey(
    request: Request, repos: ReposDep, sign_in: SignInThrottleDep, ip: ClientIp,
    audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    rp = relying_party(request)
    try:
        body = await _json(request)
        credential = body.get("credential")
        if rp is None or not isinstance(credential, dict):
            raise PasskeyError("The request could not be read.")
        pending_login, user = await _pending_sign_in(request, repos, body, now)
    except PasskeyError as error:
        return _problem(str(error))
    device = await sign_in.trusted_device(device_id_of(request, user.id, now))
    try:
        # Counted like a code, so the success below takes back only its own attempt.
        await sign_in.check_second_factor(pending_login.id_hash, user.id, device)
    except TooManyRequestsError as error:
        return _problem(too_many_attempts(error), 429)
    try:
        await passkeys.second_factor(repos, rp, user, pending_login.id_hash, credential, now)
    except PasskeyError as error:
        await sign_in.second_factor_failed(pending_login.id_hash, user.id, device)
        audit.record("second_factor_failed", user_id=user.id, method="passkey")
        return _problem(str(error))
    await sign_in.second_factor_succeeded(pending_login.id_hash, user.id, device)
    audit.record("login_succeeded", user_id=user.id, second_factor="passkey")
    request_id = str(body.get("request_id", ""))
    pending = await pending_or_none(repos, request_id, now)
    next_path = safe_next(str(body.get("next", "")))
    response = JSONResponse({"redirect": after_login(pending, next_path)}, headers=NO_STORE)
    await finish_sign_in(
        request, response, repos, user, amr=f"{pending_login.amr} hwk", ip=ip, now=now
    )
    return response
