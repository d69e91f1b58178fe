"""The consent step of the authorization flow: GET shows the screen, POST records the decision."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from auth_service.deps import AuditorDep, FormDep, Now, OptionalSession, ReposDep, stored_client
from auth_service.oauth.authorize.request import AuthorizationRequest
from auth_service.oauth.authorize.steps import Step
from auth_service.repositories import Repositories
from auth_service.routes.authorization_flow import decide, finish_with_code, to_step_page
from auth_service.web.front_channel import error_page, error_redirect
from auth_service.web.pages import FORM_EXPIRED, csrf_ok, render_form
from shared.errors import AccessDeniedError, InvalidRequestError
from shared.models import Client, PendingAuthorization, UserSession
from shared.scopes import describe

router = APIRouter(tags=["pages"], include_in_schema=False)


def _gone(request: Request) -> Response:
    return error_page(
        request,
        InvalidRequestError(
            "This authorization request has expired or was already answered. "
            "Go back to the app and try again."
        ),
    )


def _title(client: Client | None) -> str:
    """The tab's title names what the heading names: a document client by its host."""
    if client is None:
        return "Allow this app?"
    if client.published_by:
        return f"Allow an app from {client.published_by}?"
    return f"Allow {client.name}?"


async def _consent_page(
    request: Request,
    repos: Repositories,
    pending: PendingAuthorization,
    authz: AuthorizationRequest,
    session: UserSession,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    client = await stored_client(request, repos, pending.client_id)
    user = await repos.users.get_by_id(session.user_id)
    # RFC 8707 §2.1: the person sees which APIs the tokens will be for (validated at authorize;
    # one deleted since is left out, its tokens are refused at the token endpoint).
    servers = [await repos.resource_servers.get_by_uri(uri) for uri in authz.resources]
    return render_form(
        request,
        "consent.html",
        {
            "title": _title(client),
            "client": client,
            "published_by": client.published_by if client else None,
            "user": user,
            "scopes": describe(authz.scopes),
            "resources": [server for server in servers if server is not None],
            "request_id": pending.id,
            "error": error,
        },
        purpose="consent",
        request_id=pending.id,
        session_hash=session.id_hash,
        status_code=status_code,
    )


@router.get("/consent")
async def consent_form(
    request: Request,
    repos: ReposDep,
    session: OptionalSession,
    audit: AuditorDep,
    now: Now,
    request_id: str = "",
) -> Response:
    pending = await repos.pending.get_active(request_id, now) if request_id else None
    if pending is None:
        return _gone(request)
    authz = AuthorizationRequest.from_params(pending.client_id, pending.params)
    step = await decide(repos, authz, session=session, min_auth_time=pending.min_auth_time)
    if step is Step.LOGIN or session is None:
        return to_step_page(Step.LOGIN, pending.id)
    if step is Step.CONSENT:
        return await _consent_page(request, repos, pending, authz, session)
    if not await repos.pending.consume(pending.id, now):
        return _gone(request)
    return await finish_with_code(request, repos, authz, session=session, audit=audit, now=now)


@router.post("/consent")
async def consent_decision(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    session: OptionalSession,
    audit: AuditorDep,
    now: Now,
) -> Response:
    request_id = form.get("request_id", "")
    pending = await repos.pending.get_active(request_id, now) if request_id else None
    if pending is None:
        return _gone(request)
    authz = AuthorizationRequest.from_params(pending.client_id, pending.params)
    if session is None or (pending.min_auth_time and session.auth_time < pending.min_auth_time):
        return to_step_page(Step.LOGIN, pending.id)
    if not csrf_ok(
        request, form, purpose="consent", request_id=pending.id, session_hash=session.id_hash
    ):
        return await _consent_page(
            request, repos, pending, authz, session, error=FORM_EXPIRED, status_code=400
        )
    allow, deny = "allow" in form, "deny" in form
    if allow == deny:
        return error_page(request, InvalidRequestError("choose either Allow or Deny"))
    if not await repos.pending.consume(pending.id, now):
        return _gone(request)
    if deny:
        audit.record("consent_denied", user_id=session.user_id, client_id=authz.client_id)
        if authz.pushed_request_hash is not None:
            # RFC 9126 §4: the pushed request was answered; it starts no second one.
            await repos.pushed.use(authz.pushed_request_hash, now)
        # Returned, not raised: the consumed request and the audit row must be committed.
        return error_redirect(
            request,
            AccessDeniedError("the user denied the request"),
            authz.redirect_uri,
            authz.state,
        )
    await repos.consents.record(session.user_id, authz.client_id, authz.scopes, now)
    audit.record(
        "consent_granted",
        user_id=session.user_id,
        client_id=authz.client_id,
        scope=sorted(authz.scopes),
    )
    return await finish_with_code(request, repos, authz, session=session, audit=audit, now=now)
