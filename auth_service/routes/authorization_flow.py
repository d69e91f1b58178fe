"""Steps shared by /oauth/authorize, /login and /consent: decide what the user must do, then redirect."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from auth_service.audit import Auditor
from auth_service.oauth.authorize.codes import issue_authorization_code
from auth_service.oauth.authorize.request import AuthorizationRedirectError, AuthorizationRequest
from auth_service.oauth.authorize.steps import Step, next_step
from auth_service.oauth.fapi2 import code_lifetime
from auth_service.repositories import Repositories
from auth_service.web.front_channel import redirect_to_client
from shared.errors import OAuthError
from shared.models import UserSession


async def decide(
    repos: Repositories,
    authz: AuthorizationRequest,
    *,
    session: UserSession | None,
    min_auth_time: datetime | None,
) -> Step:
    consent = await repos.consents.get(session.user_id, authz.client_id) if session else None
    try:
        return next_step(authz, session=session, consent=consent, min_auth_time=min_auth_time)
    except OAuthError as error:
        raise AuthorizationRedirectError(
            error, authz.redirect_uri, authz.state, confirm=not authz.client_vetted
        ) from None


def to_step_page(step: Step, request_id: str) -> Response:
    path = "/login" if step is Step.LOGIN else "/consent"
    return RedirectResponse(f"{path}?request_id={request_id}", status_code=303)


async def finish_with_code(
    request: Request,
    repos: Repositories,
    authz: AuthorizationRequest,
    *,
    session: UserSession,
    audit: Auditor,
    now: datetime,
) -> Response:
    """Issue the code and send the browser back to the client (RFC 6749 §4.1.2)."""
    code = await issue_authorization_code(
        repos,
        authz,
        user_id=session.user_id,
        auth_time=session.auth_time,
        now=now,
        ttl=code_lifetime(authz.profile, request.app.state.settings.authorization_code_ttl),
    )
    audit.record("authorization_code_issued", user_id=session.user_id, client_id=authz.client_id)
    return redirect_to_client(request, authz.redirect_uri, {"code": code, "state": authz.state})
