"""/account/two-factor: enrol an authenticator app (TOTP, RFC 6238), or turn it off."""

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
    SecretBoxDep,
    SignedIn,
    ThrottleDep,
    signed_in,
)
from auth_service.identity import second_factor
from auth_service.identity.password_check import (
    PasswordCheck,
    recheck_password,
    too_many_attempts,
    with_retry_after,
)
from auth_service.routes.account import (
    ACCOUNT_PATH,
    MESSAGES,
    AccountUser,
    account_page,
    end_other_access_for,
)
from auth_service.security import totp
from auth_service.web.pages import FORM_EXPIRED, csrf_ok, render, render_form

router = APIRouter(tags=["pages"], include_in_schema=False)
PATH = f"{ACCOUNT_PATH}/two-factor"
TwoFactorUser = Annotated[SignedIn, Depends(signed_in(PATH))]
RECHECK_FAILED = "Your password is not right."


def _setup_page(
    request: Request, me: SignedIn, secret: str, *, error: str | None = None,
    status_code: int = 200,
) -> Response:  # fmt: skip
    uri = totp.provisioning_uri(secret, me.user.username)
    return render_form(
        request,
        "two_factor_setup.html",
        {
            "title": "Set up two-step verification",
            "qr_code": totp.qr_code_data_uri(uri),
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "error": error,
        },
        purpose="second-factor-setup",
        session_hash=me.session.id_hash,
        status_code=status_code,
    )


@router.get(PATH)
async def setup(
    request: Request, repos: ReposDep, box: SecretBoxDep, me: TwoFactorUser, now: Now
) -> Response:
    if me.user.has_second_factor:
        return RedirectResponse(ACCOUNT_PATH, status_code=303)
    secret = await second_factor.start_enrolment(repos, box, me.user, now)
    return _setup_page(request, me, secret)


@router.post(PATH)
async def confirm(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    box: SecretBoxDep,
    hasher: HasherDep,
    throttle: ThrottleDep,
    me: TwoFactorUser,
    audit: AuditorDep,
    now: Now,
) -> Response:
    user, session = me.user, me.session
    secret = second_factor.pending_secret(box, user)
    if secret is None:
        return RedirectResponse(PATH, status_code=303)
    if not csrf_ok(request, form, purpose="second-factor-setup", session_hash=session.id_hash):
        return _setup_page(request, me, secret, error=FORM_EXPIRED, status_code=400)
    # As for turning it off: a borrowed session must not bind the account to someone's phone
    # (OWASP Authentication Cheat Sheet: re-authenticate before changing a factor).
    check = await recheck_password(throttle, hasher, user, form.get("current_password", ""))
    if check.throttled is not None:
        page = _setup_page(
            request, me, secret, error=too_many_attempts(check.throttled), status_code=429
        )
        return with_retry_after(page, check.throttled)
    if not check.ok:
        audit.record("second_factor_enrol_failed", user_id=user.id)
        return _setup_page(request, me, secret, error=RECHECK_FAILED, status_code=400)
    codes = await second_factor.confirm_enrolment(repos, box, user, form.get("code", "")[:16], now)
    if codes is None:
        error = "That code is not right. Check the time on your phone and try the current code."
        return _setup_page(request, me, secret, error=error, status_code=400)
    # Shown once: only their digests are stored.
    response = _codes_page(request, codes, "on")
    revoked = await end_other_access_for(request, response, repos, me, now)
    audit.record("second_factor_enrolled", user_id=user.id, grants_revoked=revoked)
    return response


def _codes_page(request: Request, codes: list[str], message: str) -> Response:
    return render(
        request,
        "two_factor_codes.html",
        {
            "title": "Your recovery codes",
            "codes": codes,
            "notice": MESSAGES.get(f"second-factor-{message}"),
            "done": f"{ACCOUNT_PATH}?message=second-factor-{message}",
        },
    )


def _password_failure(request: Request, me: SignedIn, check: PasswordCheck) -> Response:
    """The account page after a wrong (or throttled) password in the two-step section."""
    if check.throttled is not None:
        page = account_page(
            request, me, error=too_many_attempts(check.throttled), error_in="second-factor",
            status_code=429,
        )  # fmt: skip
        return with_retry_after(page, check.throttled)
    return account_page(
        request, me, error=RECHECK_FAILED, error_in="second-factor", status_code=400
    )


@router.post(f"{PATH}/recovery-codes")
async def renew_recovery_codes(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    box: SecretBoxDep,
    hasher: HasherDep,
    throttle: ThrottleDep,
    me: AccountUser,
    audit: AuditorDep,
    now: Now,
) -> Response:
    """New recovery codes replace every earlier one (lost or used up): a credential change."""
    user, session = me.user, me.session
    if not user.has_second_factor:
        return RedirectResponse(ACCOUNT_PATH, status_code=303)
    if not csrf_ok(request, form, purpose="account", session_hash=session.id_hash):
        return account_page(
            request, me, error=FORM_EXPIRED, error_in="second-factor", status_code=400
        )
    check = await recheck_password(throttle, hasher, user, form.get("current_password", ""))
    if not check.ok:
        return _password_failure(request, me, check)
    codes = await second_factor.new_recovery_codes(repos, box, user, now)
    response = _codes_page(request, codes, "codes")
    revoked = await end_other_access_for(request, response, repos, me, now)
    audit.record("recovery_codes_renewed", user_id=user.id, grants_revoked=revoked)
    return response


@router.post(f"{PATH}/disable")
async def disable(
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
    if not csrf_ok(request, form, purpose="account", session_hash=session.id_hash):
        return account_page(
            request, me, error=FORM_EXPIRED, error_in="second-factor", status_code=400
        )
    check = await recheck_password(throttle, hasher, user, form.get("current_password", ""))
    if not check.ok:
        return _password_failure(request, me, check)
    await second_factor.remove(repos, user, now)
    response = RedirectResponse(f"{ACCOUNT_PATH}?message=second-factor-off", status_code=303)
    revoked = await end_other_access_for(request, response, repos, me, now)
    audit.record("second_factor_removed", user_id=user.id, grants_revoked=revoked)
    return response
