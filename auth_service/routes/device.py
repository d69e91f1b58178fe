"""/device: where a person answers a device's authorization request (RFC 8628 §3.3) on a
second screen: enter the user code, sign in as usual, then allow or deny the device."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from auth_service.deps import (
    AuditorDep,
    ClientIp,
    FormDep,
    Now,
    OptionalSession,
    ReposDep,
    SecretBoxDep,
    ThrottleDep,
    stored_client,
)
from auth_service.identity.password_check import too_many_attempts, with_retry_after
from auth_service.oauth.device_authorization import (
    answered_problem,
    approve,
    deny,
    find_by_user_code,
)
from auth_service.repositories import Repositories
from auth_service.security.secret_box import SecretBox
from auth_service.security.user_codes import KEY_PURPOSE, display_user_code, normalize_user_code
from auth_service.throttling.addresses import address_group
from auth_service.throttling.policy import Throttle
from auth_service.web.pages import FORM_EXPIRED, csrf_ok, render, render_form, session_hash_of
from shared.errors import TooManyRequestsError
from shared.models import DeviceAuthorization, UserSession
from shared.scopes import describe

router = APIRouter(tags=["pages"], include_in_schema=False)
logger = logging.getLogger(__name__)
BUCKET = "device-user-code"  # wrong codes per address
BUCKET_ALL = "device-user-code-all"  # wrong codes from every address together
SERVICE_WIDE = "service"  # the one key of BUCKET_ALL
LOOKUPS = "device-lookups"  # every lookup per address
WRONG_CODE = "That code is not right. Check the code on your device and try again."
CHOOSE = "Choose Allow or Deny."


def _entry_page(
    request: Request, typed: str = "", *, error: str | None = None, status_code: int = 200
) -> Response:
    code = normalize_user_code(typed)
    return render_form(
        request,
        "device.html",
        {
            "title": "Connect a device",
            "user_code": display_user_code(code) if code else typed[:32],
            "prefilled": code is not None and error is None,
            "error": error,
        },
        purpose="device",
        session_hash=session_hash_of(request),
        status_code=status_code,
    )


def _consent_path(code: str) -> str:
    return "/device/consent?" + urlencode({"user_code": display_user_code(code)})


def _to_login(typed: str) -> Response:
    """The usual sign-in, then back to the device's consent step (or the code form)."""
    code = normalize_user_code(typed)
    next_path = _consent_path(code) if code else "/device"
    return RedirectResponse("/login?" + urlencode({"next": next_path}), status_code=303)


async def _find(
    request: Request,
    repos: Repositories,
    throttle: Throttle,
    box: SecretBox,
    ip: str | None,
    typed: str,
    now: Now,
) -> tuple[str, DeviceAuthorization] | Response:
    """The request a typed user code names and can still be answered, or the page saying why
    not. RFC 8628 §5.1 (brute force of the user code): every lookup counts against a ceiling
    per address; each is counted as a wrong code per address (IPv6 by /64) and service-wide
    before the lookup, so requests sent together cannot all pass a wait none of them has set
    yet, and a code that exists takes its attempt back: finding one never resets the count."""
    key, policy = address_group(ip), throttle.policy
    try:
        await throttle.hit(LOOKUPS, key, policy.device_lookup_per_ip)
        attempt = await throttle.begin_attempt(BUCKET, key, policy.device_user_code_ip)
        service_attempt = await _begin_service_wide(throttle, key, attempt)
    except TooManyRequestsError as error:
        page = _entry_page(request, typed, error=too_many_attempts(error), status_code=429)
        return with_retry_after(page, error)
    code = normalize_user_code(typed)
    row = await find_by_user_code(repos, box.derive_key(KEY_PURPOSE), code) if code else None
    if code is None or row is None:
        _warn_if_bound_reached(throttle, service_attempt)
        return _entry_page(request, typed, error=WRONG_CODE, status_code=400)
    # Not a guess: taken back, and a wait this very attempt started ends (no one else's).
    await throttle.undo_attempt(
        BUCKET, key, release_wait=attempt >= policy.device_user_code_ip.free
    )
    await throttle.undo_attempt(
        BUCKET_ALL, SERVICE_WIDE, release_wait=service_attempt >= policy.device_user_code_all.free
    )
    problem = answered_problem(row, now)
    if problem is not None:
        return _entry_page(request, error=problem, status_code=400)
    return code, row


async def _begin_service_wide(throttle: Throttle, key: str, attempt: int) -> int:
    """The bound on guesses from many addresses: past it every lookup anywhere waits. Refused
    here, the address's `attempt` is taken back (and a wait it started ends): no lookup
    happened."""
    address = throttle.policy.device_user_code_ip
    try:
        return await throttle.begin_attempt(
            BUCKET_ALL, SERVICE_WIDE, throttle.policy.device_user_code_all
        )
    except TooManyRequestsError:
        await throttle.undo_attempt(BUCKET, key, release_wait=attempt >= address.free)
        raise


def _warn_if_bound_reached(throttle: Throttle, service_attempt: int) -> None:
    """An operator must hear that every lookup now waits: logged by the wrong code that
    reached the bound, once per window (a right code takes its attempt back, wrong ones
    only add)."""
    backoff = throttle.policy.device_user_code_all
    if service_attempt == backoff.free:
        logger.warning(
            "wrong device user codes reached the service-wide bound: every /device lookup "
            "now waits (RFC 8628 section 5.1)",
            extra={"fields": {"failures": service_attempt, "window_seconds": backoff.memory}},
        )


async def _consent_page(
    request: Request,
    repos: Repositories,
    row: DeviceAuthorization,
    code: str,
    session: UserSession,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    client = await stored_client(request, repos, row.client_id)
    user = await repos.users.get_by_id(session.user_id)
    return render_form(
        request,
        "device_consent.html",
        {
            "title": (
                f"Allow an app from {client.published_by} on a device?"
                if client and client.published_by
                else f"Allow {client.name if client else 'this app'} on a device?"
            ),
            "client": client,
            "user": user,
            "scopes": describe(row.scopes),
            # Registered by its developer, not the operator: nobody vouches for its name.
            "unverified": client is not None and not client.is_vetted,
            # RFC 8628 §3.3.1 / §5.4: shown so the user compares it with the device's.
            "user_code": display_user_code(code),
            "error": error,
        },
        purpose="device-consent",
        request_id=code,
        session_hash=session.id_hash,
        status_code=status_code,
    )


@router.get("/device")
async def device_form(request: Request, user_code: str = "") -> Response:
    # RFC 8628 §5.4: a code from verification_uri_complete only pre-fills the form; nothing
    # happens until the user confirms it, so a link alone cannot approve anything.
    return _entry_page(request, user_code)


@router.post("/device")
async def device_code_entered(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    throttle: ThrottleDep,
    box: SecretBoxDep,
    ip: ClientIp,
    now: Now,
) -> Response:
    typed = form.get("user_code", "")
    if not csrf_ok(request, form, purpose="device", session_hash=session_hash_of(request)):
        return _entry_page(request, typed, error=FORM_EXPIRED, status_code=400)
    found = await _find(request, repos, throttle, box, ip, typed, now)
    if isinstance(found, Response):
        return found
    return RedirectResponse(_consent_path(found[0]), status_code=303)


@router.get("/device/consent")
async def device_consent_form(
    request: Request,
    repos: ReposDep,
    session: OptionalSession,
    throttle: ThrottleDep,
    box: SecretBoxDep,
    ip: ClientIp,
    now: Now,
    user_code: str = "",
) -> Response:
    if session is None:
        return _to_login(user_code)
    found = await _find(request, repos, throttle, box, ip, user_code, now)
    if isinstance(found, Response):
        return found
    code, row = found
    return await _consent_page(request, repos, row, code, session)


@router.post("/device/consent")
async def device_decision(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    session: OptionalSession,
    throttle: ThrottleDep,
    box: SecretBoxDep,
    ip: ClientIp,
    audit: AuditorDep,
    now: Now,
) -> Response:
    typed = form.get("user_code", "")
    if session is None:
        return _to_login(typed)
    found = await _find(request, repos, throttle, box, ip, typed, now)
    if isinstance(found, Response):
        return found
    code, row = found
    if not csrf_ok(
        request, form, purpose="device-consent", request_id=code, session_hash=session.id_hash
    ):
        return await _consent_page(
            request, repos, row, code, session, error=FORM_EXPIRED, status_code=400
        )
    allowed, denied = "allow" in form, "deny" in form
    if allowed == denied:
        return await _consent_page(
            request, repos, row, code, session, error=CHOOSE, status_code=400
        )
    answer = approve if allowed else deny
    # Answered in another tab, just expired, or the client lost what it asked for meanwhile.
    if (problem := await answer(repos, row, session, now)) is not None:
        return _entry_page(request, error=problem, status_code=400)
    event = "device_approved" if allowed else "device_denied"
    audit.record(event, user_id=session.user_id, client_id=row.client_id, scope=row.scope)
    return render(
        request,
        "device_done.html",
        {"title": "Device connected" if allowed else "Request denied", "allowed": allowed},
    )
