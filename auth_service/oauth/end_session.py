"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2-§3).

Like the authorization endpoint, nothing redirects until the target is verified: a
`post_logout_redirect_uri` must exactly equal one registered for the client that the
`id_token_hint` (or `client_id`) names; otherwise the user stays on our own page. A registered
URI of a self-registered client is followed only when an unexpired hint names the user whose
session is ending (RFC 9700 §4.11.2): anyone can register a URI and get an ID token for their
own account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auth_service.clients.metadata_documents import honoured
from auth_service.oauth.authorize.request import AuthorizationPageError
from auth_service.repositories import Repositories
from shared.errors import InvalidRequestError, InvalidTokenError
from shared.models import Client
from shared.tokens import VerificationKeys, decode_id_token_hint


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    client: Client | None
    post_logout_redirect_uri: str | None
    state: str | None
    hinted_sub: str | None  # the user the RP believes is logged in, from id_token_hint
    # §2 accepts an expired hint, but then it no longer vouches for a live session (see below).
    hint_expired: bool = False


async def validate_logout_request(
    params: dict[str, str],
    repeated: frozenset[str],
    repos: Repositories,
    *,
    keys: VerificationKeys,
    issuer: str,
    now: datetime,
    leeway: int,
    document_clients: bool,
) -> LogoutRequest:
    """Raise AuthorizationPageError (our own page, never a redirect) for anything invalid."""
    if repeated:
        raise _page(f"parameter {sorted(repeated)[0]} was sent more than once")
    hinted_sub, hinted_client_id, hint_expired = None, None, False
    if "id_token_hint" in params:
        try:
            hint = await decode_id_token_hint(params["id_token_hint"], keys=keys, issuer=issuer)
        except InvalidTokenError:
            raise _page("id_token_hint is not an ID token we issued") from None
        hinted_sub = hint.sub
        # §2: "SHOULD accept ID Tokens ... even when the exp time has passed" when the RP has or
        # had a recent session. We issue no `sid`, so an expired hint cannot show which session
        # it belongs to; §2 lets the OP treat such a request as suspect, and so we do.
        hint_expired = hint.exp <= now.timestamp() - leeway
        if len(hint.audiences) == 1:
            hinted_client_id = hint.audiences[0]
    client_id = params.get("client_id", hinted_client_id)
    if hinted_client_id is not None and client_id != hinted_client_id:
        raise _page("client_id does not match the id_token_hint")
    client = await repos.clients.get_by_client_id(client_id) if client_id else None
    client = honoured(client, enabled=document_clients)
    if client_id and client is None:
        raise _page("the client is unknown")
    redirect_uri = params.get("post_logout_redirect_uri")
    if redirect_uri is not None:
        # §3: the OP must not redirect to a URI it cannot tie to a client's registration.
        if client is None:
            raise _page("post_logout_redirect_uri needs id_token_hint or client_id")
        if redirect_uri not in client.post_logout_redirect_uris:
            raise _page("post_logout_redirect_uri is not registered for this client")
    state = params.get("state")
    if state is not None and len(state) > 2048:
        raise _page("state is too long")
    return LogoutRequest(client, redirect_uri, state, hinted_sub, hint_expired)


def proves_session(logout: LogoutRequest, user_id: str | None) -> bool:
    """§2: the RP showed an unexpired ID token for `user_id`, whose session is the one ending."""
    return user_id is not None and logout.hinted_sub == user_id and not logout.hint_expired


def allows_redirect(logout: LogoutRequest, ended_user_id: str | None) -> bool:
    """§3: send the user back to the RP's registered URI for a client an operator vetted, or when
    the hint proves the session being ended (`ended_user_id`, None when there was none) is the
    one the RP holds. Otherwise anyone who registered a client could send every visitor to the
    URI they chose, with a bare client_id or an ID token for their own account (RFC 9700 §4.11.2)."""
    if logout.post_logout_redirect_uri is None or logout.client is None:
        return False
    return logout.client.is_vetted or proves_session(logout, ended_user_id)


def allows_silent_logout(logout: LogoutRequest, user_id: str) -> bool:
    """§2: log the user out without asking only when the RP's id_token_hint proves the session;
    the OP must ask when the hint does not belong to the current session."""
    return proves_session(logout, user_id)


def _page(description: str) -> AuthorizationPageError:
    return AuthorizationPageError(InvalidRequestError(description))
