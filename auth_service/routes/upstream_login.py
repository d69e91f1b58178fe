"""Signing in with another provider (README "Sign in with another provider").

GET /login/upstream/<id> sends the browser to the upstream (code + PKCE + state + nonce); its
answer comes back to /login/upstream/<id>/callback, which finds the account by link
(`identity.brokering.linking`), makes one, or asks the owner of the account with that address
to sign in and agree at /login/upstream/link. /account/providers lists the links, adds one and
removes one.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from auth_service.config import AuthSettings
from auth_service.deps import (
    AuditorDep,
    ClientIp,
    FormDep,
    HasherDep,
    Now,
    ReposDep,
    SecretBoxDep,
    SettingsDep,
    SignedIn,
    ThrottleDep,
    session_lifetime,
    signed_in,
)
from auth_service.identity.authentication import current_session, start_session
from auth_service.identity.brokering.linking import (
    BrokeringError,
    NewAccount,
    ProveOwnership,
    add_link,
    create_linked_account,
    label_of,
    resolve,
)
from auth_service.identity.brokering.upstream_client import (
    UpstreamClient,
    UpstreamError,
    UpstreamIdentity,
)
from auth_service.identity.browsers import BrowserInfo
from auth_service.identity.email_verification import send_verification
from auth_service.identity.password_check import (
    recheck_password,
    too_many_attempts,
    with_retry_after,
)
from auth_service.mail.messages import compose
from auth_service.mail.outbox import Outbox
from auth_service.repositories import Repositories
from auth_service.routes.login import after_login, finish_sign_in, pending_or_none, safe_next
from auth_service.security.secrets import new_token
from auth_service.throttling.policy import Throttle
from auth_service.web import upstream_cookies as cookies
from auth_service.web.front_channel import error_page
from auth_service.web.pages import (
    FORM_EXPIRED,
    csrf_ok,
    render_form,
    session_cookie_of,
    session_hash_of,
    set_session_cookie,
)
from auth_service.web.upstream_cookies import FLOW_COOKIE, LINK_COOKIE, Flow, PendingLink
from shared.errors import InvalidRequestError, ServerError, TooManyRequestsError
from shared.models import UpstreamProvider, User

router = APIRouter(tags=["pages"], include_in_schema=False)
logger = logging.getLogger(__name__)

LINK_PATH = "/login/upstream/link"
PROVIDERS_PATH = "/account/providers"
AMR = "fed"  # OIDC Core §2 amr: federated sign-in (a value outside RFC 8176's registry)
EXPIRED = "This sign-in has expired or was started in another browser. Start again."
ONLY_WAY_IN = (
    "This is the only way you can sign in. Set a password first (Forgot your password? on the "
    "sign-in page), then remove it."
)
RECENT_SIGN_IN = timedelta(minutes=10)
NOT_RECENT = (
    "You signed in more than 10 minutes ago. Sign out, sign in again with your provider, and "
    "come back."
)
ProvidersUser = Annotated[SignedIn, Depends(signed_in(PROVIDERS_PATH))]
MESSAGES = {
    "linked": "The provider was linked: you can sign in with it from now on.",
    "removed": "The provider was removed from your account.",
}


def _client(request: Request) -> UpstreamClient:
    client: UpstreamClient = request.app.state.upstream_client
    return client


async def end_transaction(repos: Repositories) -> None:
    """Before a request to an upstream (up to a few seconds each): end this request's read
    transaction, so it holds no pooled connection meanwhile. On SQLite that connection is the
    one write lock, and every other request would wait for the upstream too."""
    if repos.session.in_transaction():
        await repos.session.commit()


def redirect_uri(request: Request, provider_id: str) -> str:
    """Built from the issuer, never from the Host header (what the operator registers upstream)."""
    issuer: str = request.app.state.settings.issuer
    return f"{issuer}/login/upstream/{provider_id}/callback"


def _unreachable(request: Request, provider: UpstreamProvider, reason: UpstreamError) -> Response:
    logger.warning("upstream sign-in failed provider=%s: %s", provider.id, reason)
    return error_page(
        request,
        ServerError(
            f"We could not sign you in with {provider.name}. Try again, or sign in another way."
        ),
        status_code=502,
    )


async def _start(
    request: Request, repos: Repositories, provider: UpstreamProvider, *, request_id: str,
    next_path: str, intent: str, session_hash: str = "",
) -> Response:  # fmt: skip
    await end_transaction(repos)
    flow = Flow(
        provider_id=provider.id, state=new_token(), nonce=new_token(), verifier=new_token(),
        request_id=request_id, next=next_path, intent=intent, session_hash=session_hash,
    )  # fmt: skip
    try:
        url = await _client(request).authorization_url(
            provider, redirect_uri=redirect_uri(request, provider.id), state=flow.state,
            nonce=flow.nonce, verifier=flow.verifier,
        )  # fmt: skip
    except UpstreamError as reason:
        return _unreachable(request, provider, reason)
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    cookies.put(request, response, FLOW_COOKIE, flow)
    return response


async def _notify_linked(
    request: Request, response: Response, repos: Repositories, user: User,
    provider: UpstreamProvider, label: str, now: datetime,
) -> None:  # fmt: skip
    """The owner hears of every new way into the account (as for a passkey)."""
    outbox: Outbox | None = request.app.state.outbox
    if outbox is None:
        return
    letter = compose(
        "upstream_linked", user.email, name=user.name or user.username, username=user.username,
        provider=provider.name, label=label, when=now.strftime("%Y-%m-%d at %H:%M UTC"),
        providers_link=f"{request.app.state.settings.issuer}{PROVIDERS_PATH}",
    )  # fmt: skip
    await outbox.queue(repos, letter, now)
    response.background = BackgroundTask(outbox.wake.set)


# --- linking after the owner of the address signed in (before /login/upstream/<id>: routes
# match in order, and "link" is no provider id) ---


def _link_page(
    request: Request, provider: UpstreamProvider, link: PendingLink, session_hash: str
) -> Response:
    return render_form(
        request,
        "upstream_link.html",
        {"title": f"Link {provider.name}", "provider": provider, "label": link.label},
        purpose="upstream-link",
        session_hash=session_hash,
    )


@router.get(LINK_PATH)
async def link_offer(request: Request, repos: ReposDep, now: Now) -> Response:
    link = cookies.take(request, LINK_COOKIE, PendingLink)
    session = await current_session(repos, session_cookie_of(request), now)
    provider = await repos.upstreams.get(link.provider_id) if link else None
    if link is None or provider is None:
        return error_page(request, InvalidRequestError(EXPIRED))
    if session is None:
        query = urlencode({"next": LINK_PATH, "notice": "upstream-link"})
        return RedirectResponse(f"/login?{query}", status_code=303)
    if session.user_id != link.user_id:
        response = error_page(request, InvalidRequestError(
            f"You signed in to another account than the one with the address {provider.name} "
            "gave, so nothing was linked."
        ))  # fmt: skip
        cookies.drop(request, response, LINK_COOKIE)
        return response
    return _link_page(request, provider, link, session.id_hash)


@router.post(LINK_PATH)
async def link_answer(
    request: Request, form: FormDep, repos: ReposDep, audit: AuditorDep, now: Now
) -> Response:
    link = cookies.take(request, LINK_COOKIE, PendingLink)
    session = await current_session(repos, session_cookie_of(request), now)
    provider = await repos.upstreams.get(link.provider_id) if link else None
    if link is None or provider is None or session is None or session.user_id != link.user_id:
        return error_page(request, InvalidRequestError(EXPIRED))
    if not csrf_ok(request, form, purpose="upstream-link", session_hash=session.id_hash):
        return error_page(request, InvalidRequestError(FORM_EXPIRED))
    pending = await pending_or_none(repos, link.request_id, now)
    response = RedirectResponse(after_login(pending, safe_next(link.next)), status_code=303)
    cookies.drop(request, response, LINK_COOKIE)
    user = await repos.users.get_by_id(session.user_id)
    if form.get("answer") == "link" and user is not None:
        if await add_link(repos, provider, link.subject, link.label, user.id, now):
            audit.record("upstream_linked", user_id=user.id, provider=provider.id)
            await _notify_linked(request, response, repos, user, provider, link.label, now)
        else:  # that subject was linked meanwhile (to this account or, by now, another)
            audit.record("upstream_link_failed", user_id=user.id, provider=provider.id)
    return response


# --- the upstream round trip ---


@router.post("/login/upstream/{provider_id}")
async def start_upstream_sign_in(
    request: Request, provider_id: str, form: FormDep, repos: ReposDep, now: Now
) -> Response:
    """A form of the login page, with its CSRF token: no other site can start a sign-in in
    someone's browser (which would replace their session by one of the upstream's choosing)."""
    request_id, next_path = form.get("request_id", ""), form.get("next", "")
    if not csrf_ok(
        request, form, purpose="login", request_id=request_id,
        session_hash=session_hash_of(request),
    ):  # fmt: skip
        return error_page(request, InvalidRequestError(FORM_EXPIRED))
    provider = await repos.upstreams.get(provider_id[:32])
    if provider is None:
        return error_page(
            request, InvalidRequestError("There is no such provider."), status_code=404
        )
    if request_id and await pending_or_none(repos, request_id, now) is None:
        return error_page(
            request,
            InvalidRequestError(
                "This sign-in request has expired or was already used. Go back to the app and try again."
            ),
        )
    return await _start(
        request, repos, provider, request_id=request_id, next_path=safe_next(next_path) or "",
        intent="sign-in",
    )  # fmt: skip


@router.get("/login/upstream/{provider_id}/callback")
async def upstream_callback(
    request: Request,
    provider_id: str,
    repos: ReposDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    ip: ClientIp,
    audit: AuditorDep,
    now: Now,
) -> Response:
    params = request.query_params
    flow = cookies.take(request, FLOW_COOKIE, Flow)
    provider = await repos.upstreams.get(provider_id[:32])
    # RFC 6749 §10.12: the state must be the one this browser was given (compared in constant time).
    if (
        flow is None
        or provider is None
        or flow.provider_id != provider.id
        or not hmac.compare_digest(params.get("state", "").encode(), flow.state.encode())
    ):
        audit.record("upstream_login_failed", provider=provider_id[:32], reason="state")
        refused: Response = error_page(request, InvalidRequestError(EXPIRED))
        cookies.drop(request, refused, FLOW_COOKIE)
        return refused
    back = {"request_id": flow.request_id, "next": flow.next}
    if "error" in params:  # RFC 6749 §4.1.2.1: the person said no, or the upstream could not ask
        audit.record("upstream_login_failed", provider=provider.id, reason="denied")
        target = PROVIDERS_PATH if flow.intent == "link" else f"/login?{urlencode(back)}"
        response: Response = RedirectResponse(target, status_code=303)
        cookies.drop(request, response, FLOW_COOKIE)
        return response
    secret = box.decrypt(provider.client_secret_encrypted)
    await end_transaction(repos)
    try:
        if secret is None:
            raise UpstreamError("the client secret cannot be decrypted with this data key")
        identity = await _client(request).identity(
            provider, secret, redirect_uri=redirect_uri(request, provider.id),
            code=params.get("code", ""), verifier=flow.verifier, nonce=flow.nonce,
            iss=params.get("iss"),
        )  # fmt: skip
    except UpstreamError as reason:
        audit.record("upstream_login_failed", provider=provider.id, reason="upstream")
        response = _unreachable(request, provider, reason)
        cookies.drop(request, response, FLOW_COOKIE)
        return response
    if flow.intent == "link":
        response = await _link_from_account(request, repos, provider, identity, flow, audit, now)
        cookies.drop(request, response, FLOW_COOKIE)
        return response
    try:
        outcome = await resolve(repos, provider, identity, now)
    except BrokeringError as error:
        audit.record("upstream_login_failed", provider=provider.id, reason="account")
        response = error_page(request, InvalidRequestError(str(error)))
        cookies.drop(request, response, FLOW_COOKIE)
        return response
    if isinstance(outcome, ProveOwnership):
        # The owner of that address signs in to the account first; the link waits in a cookie.
        audit.record("upstream_link_offered", provider=provider.id, user_id=outcome.user.id)
        query = urlencode({"next": LINK_PATH, "notice": "upstream-link"})
        response = RedirectResponse(f"/login?{query}", status_code=303)
        cookies.put(request, response, LINK_COOKIE, PendingLink(
            provider_id=provider.id, subject=identity.subject, label=label_of(identity),
            user_id=outcome.user.id, request_id=flow.request_id, next=flow.next,
        ))  # fmt: skip
        cookies.drop(request, response, FLOW_COOKIE)
        return response
    created = isinstance(outcome, NewAccount)
    if isinstance(outcome, NewAccount):
        refusal = await _may_sign_up(request, provider, ip)
        if refusal is not None:
            audit.record("upstream_login_failed", provider=provider.id, reason="sign-up")
            cookies.drop(request, refusal, FLOW_COOKIE)
            return refusal
        try:
            user = await create_linked_account(repos, provider, identity, outcome.email, now)
        except BrokeringError as error:
            response = error_page(request, InvalidRequestError(str(error)))
            cookies.drop(request, response, FLOW_COOKIE)
            return response
        audit.record("upstream_account_created", user_id=user.id, provider=provider.id)
    else:
        user = outcome.user
    response = await _signed_in(request, repos, user, flow, ip=ip, audit=audit, now=now)
    outbox = request.app.state.outbox
    if created and not user.email_verified and outbox is not None:
        await send_verification(repos, outbox, request.app.state.throttle, settings, user, now)
        response.background = BackgroundTask(outbox.wake.set)
    cookies.drop(request, response, FLOW_COOKIE)
    return response


async def _may_sign_up(
    request: Request, provider: UpstreamProvider, ip: str | None
) -> Response | None:
    """A new account by an upstream is a sign-up: closed when sign-up is, and counted against
    the address's sign-up limit like the form (README "Throttling")."""
    settings: AuthSettings = request.app.state.settings
    if not settings.signup_enabled:
        return error_page(request, InvalidRequestError(
            f"No account here is linked to that {provider.name} account, and this service "
            "does not make new accounts. Sign in with your password, then link it from your "
            "account."
        ), status_code=403)  # fmt: skip
    throttle: Throttle = request.app.state.throttle
    try:
        await throttle.hit_address("signup-ip", ip, throttle.policy.signup_per_ip)
    except TooManyRequestsError as error:
        page = error_page(request, error, status_code=429)
        page.headers["Retry-After"] = str(error.retry_after)
        return page
    return None


async def _signed_in(
    request: Request, repos: Repositories, user: User, flow: Flow, *, ip: str | None,
    audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    """The upstream vouched for the person; a second factor of the account still applies."""
    pending = await pending_or_none(repos, flow.request_id, now)
    client_id = pending.client_id if pending else None
    if user.has_second_factor:
        settings = request.app.state.settings
        new = await start_session(
            repos, user, now=now, lifetime=session_lifetime(settings), amr=AMR,
            second_factor_pending=True, replaces=session_cookie_of(request),
            browser=BrowserInfo.of(request.headers.get("user-agent"), ip),
        )  # fmt: skip
        audit.record(
            "login_upstream_ok", user_id=user.id, client_id=client_id, provider=flow.provider_id
        )
        query = urlencode({"request_id": flow.request_id, "next": flow.next})
        response = RedirectResponse(f"/login/second-factor?{query}", status_code=303)
        set_session_cookie(request, response, new.cookie_value, settings.session_ttl)
        return response
    audit.record(
        "login_succeeded", user_id=user.id, client_id=client_id, method="upstream",
        provider=flow.provider_id,
    )  # fmt: skip
    response = RedirectResponse(after_login(pending, safe_next(flow.next)), status_code=303)
    await finish_sign_in(request, response, repos, user, amr=AMR, ip=ip, now=now)
    return response


# --- /account/providers ---


async def _providers_page(
    request: Request, repos: Repositories, me: SignedIn, *, message: str = "",
    error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    links = list(await repos.upstream_links.list_for_user(me.user.id))
    providers = {provider.id: provider for provider in await repos.upstreams.list()}
    linked = {link.provider_id for link in links}
    return render_form(
        request,
        "account_providers.html",
        {
            "title": "Sign-in providers",
            "links": [(providers[link.provider_id], link) for link in links],
            "others": [p for p in providers.values() if p.id not in linked],
            "message": MESSAGES.get(message),
            "error": error,
            "has_password": me.user.has_password,
        },
        purpose="providers",
        session_hash=me.session.id_hash,
        status_code=status_code,
    )


@router.get(PROVIDERS_PATH)
async def providers_page(
    request: Request, repos: ReposDep, me: ProvidersUser, message: str = ""
) -> Response:
    return await _providers_page(request, repos, me, message=message)


@router.post(f"{PROVIDERS_PATH}/link")
async def start_link(
    request: Request, form: FormDep, repos: ReposDep, hasher: HasherDep, throttle: ThrottleDep,
    me: ProvidersUser, audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    if not csrf_ok(request, form, purpose="providers", session_hash=me.session.id_hash):
        return await _providers_page(request, repos, me, error=FORM_EXPIRED, status_code=400)
    provider = await repos.upstreams.get(form.get("provider_id", "")[:32])
    if provider is None:
        return await _providers_page(
            request, repos, me, error="There is no such provider.", status_code=400
        )
    # A link is a way in that needs no password: a stolen session cookie alone must not plant
    # one (as for a passkey). Without a password, a sign-in of the last minutes stands in.
    if me.user.has_password:
        check = await recheck_password(throttle, hasher, me.user, form.get("current_password", ""))
        if check.throttled is not None:
            page = await _providers_page(
                request, repos, me, error=too_many_attempts(check.throttled), status_code=429
            )
            return with_retry_after(page, check.throttled)
        if not check.ok:
            audit.record("upstream_link_failed", user_id=me.user.id, reason="password")
            return await _providers_page(
                request, repos, me, error="Your password is not right.", status_code=400
            )
    elif now - me.session.auth_time > RECENT_SIGN_IN:
        return await _providers_page(request, repos, me, error=NOT_RECENT, status_code=400)
    return await _start(
        request, repos, provider, request_id="", next_path="", intent="link",
        session_hash=me.session.id_hash,
    )  # fmt: skip


async def _link_from_account(
    request: Request, repos: Repositories, provider: UpstreamProvider, identity: UpstreamIdentity,
    flow: Flow, audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    """A signed-in person linked a provider from /account/providers: the link is theirs, unless
    that upstream subject is another account's already. Only the session that asked (and
    passed the password check) may take it."""
    session = await current_session(repos, session_cookie_of(request), now)
    user = await repos.users.get_by_id(session.user_id) if session else None
    if session is None or user is None or session.id_hash != flow.session_hash:
        return error_page(request, InvalidRequestError(EXPIRED))
    me = SignedIn(session, user)
    subject, label = identity.subject, label_of(identity)
    existing = await repos.upstream_links.get(provider.id, subject)
    if existing is not None and existing.user_id != user.id:
        audit.record("upstream_link_failed", user_id=user.id, provider=provider.id)
        return await _providers_page(
            request, repos, me, status_code=409,
            error=f"That {provider.name} account is linked to another account here already.",
        )  # fmt: skip
    response = RedirectResponse(f"{PROVIDERS_PATH}?message=linked", status_code=303)
    if existing is None:
        if not await add_link(repos, provider, subject, label, user.id, now):
            # This account has another account of that provider linked (one per provider).
            return await _providers_page(
                request, repos, me, status_code=409,
                error=f"Another {provider.name} account is linked to yours already.",
            )  # fmt: skip
        audit.record("upstream_linked", user_id=user.id, provider=provider.id)
        await _notify_linked(request, response, repos, user, provider, label, now)
    return response


@router.post(f"{PROVIDERS_PATH}/remove")
async def remove_link(
    request: Request, form: FormDep, repos: ReposDep, me: ProvidersUser, audit: AuditorDep
) -> Response:
    if not csrf_ok(request, form, purpose="providers", session_hash=me.session.id_hash):
        return await _providers_page(request, repos, me, error=FORM_EXPIRED, status_code=400)
    provider_id = form.get("provider_id", "")[:32]
    # Not the last way in: an account with no password and no passkey keeps its one link. The
    # account row is locked first, so two removals at once cannot each see the other's link.
    await repos.users.lock(me.user.id)
    only_links = not me.user.has_password and not await repos.passkeys.list_for_user(me.user.id)
    if only_links and await repos.upstream_links.count_for_user(me.user.id) <= 1:
        return await _providers_page(request, repos, me, status_code=400, error=ONLY_WAY_IN)
    if await repos.upstream_links.delete(me.user.id, provider_id):
        audit.record("upstream_unlinked", user_id=me.user.id, provider=provider_id)
    return RedirectResponse(f"{PROVIDERS_PATH}?message=removed", status_code=303)
