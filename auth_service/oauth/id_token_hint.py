"""The authorization endpoint's id_token_hint (OIDC Core §3.1.2.1): whom the answer may be about.

With a hint, the answer concerns the user it names. If someone else is signed in, that user must
log in again within this request, which is expressed as the earliest `auth_time` we accept.
"""

from __future__ import annotations

from datetime import datetime

from auth_service.oauth.authorize.request import AuthorizationRedirectError, AuthorizationRequest
from shared.errors import InvalidRequestError, InvalidTokenError, LoginRequiredError
from shared.models import UserSession
from shared.tokens import VerificationKeys, decode_id_token_hint


async def validate_min_auth_time(
    params: dict[str, str],
    request: AuthorizationRequest,
    session: UserSession | None,
    *,
    keys: VerificationKeys,
    issuer: str,
    now: datetime,
) -> datetime | None:
    """OIDC Core §3.1.2.1: the earliest auth_time the signed-in user's login may have; None if any.

    prompt=login and max_age set it; an id_token_hint naming another user asks for a login now.
    """
    if await _hint_names_someone_else(params, request, session, keys=keys, issuer=issuer):
        return now
    return request.min_auth_time(now)


async def _hint_names_someone_else(
    params: dict[str, str],
    request: AuthorizationRequest,
    session: UserSession | None,
    *,
    keys: VerificationKeys,
    issuer: str,
) -> bool:
    # A hint we did not issue is invalid_request; under prompt=none a hint naming someone other
    # than the signed-in user is login_required (§3.1.2.6), since no login page may be shown.
    hint = params.get("id_token_hint")
    if hint is None:
        return False
    try:
        claims = await decode_id_token_hint(hint, keys=keys, issuer=issuer)
    except InvalidTokenError:
        raise AuthorizationRedirectError(
            InvalidRequestError("id_token_hint is not an ID token we issued"),
            request.redirect_uri,
            request.state,
            confirm=not request.client_vetted,
        ) from None
    if session is not None and session.user_id == claims.sub:
        return False
    if "none" in request.prompt:
        raise AuthorizationRedirectError(
            LoginRequiredError("the user named by id_token_hint is not logged in"),
            request.redirect_uri,
            request.state,
            confirm=not request.client_vetted,
        )
    return True
