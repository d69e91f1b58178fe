"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2-§3).

Like the authorization endpoint, nothing redirects until the target is verified: a
`post_logout_redirect_uri` must exactly equal one registered for the client that the
`id_token_hint` (or `client_id`) names; otherwise the user stays on our own page.
"""

from __future__ import annotations

from dataclasses import dataclass

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


async def validate_logout_request(
    params: dict[str, str],
    repeated: frozenset[str],
    repos: Repositories,
    *,
    keys: VerificationKeys,
    issuer: str,
) -> LogoutRequest:
    """Raise AuthorizationPageError (our own page, never a redirect) for anything invalid."""
    if repeated:
        raise _page(f"parameter {sorted(repeated)[0]} was sent more than once")
    hinted_sub, hinted_client_id = None, None
    if "id_token_hint" in params:
        try:
            hint = await decode_id_token_hint(params["id_token_hint"], keys=keys, issuer=issuer)
        except InvalidTokenError:
            raise _page("id_token_hint is not an ID token we issued") from None
        hinted_sub = hint.sub
        if len(hint.audiences) == 1:
            hinted_client_id = hint.audiences[0]
    client_id = params.get("client_id", hinted_client_id)
    if hinted_client_id is not None and client_id != hinted_client_id:
        raise _page("client_id does not match the id_token_hint")
    client = await repos.clients.get_by_client_id(client_id) if client_id else None
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
    return LogoutRequest(client, redirect_uri, state, hinted_sub)


def allows_redirect(logout: LogoutRequest) -> bool:
    """§3: send the user back to the RP's registered URI only for a client an operator vetted, or
    one that proved with an ID token we issued it who it is. With a bare client_id anyone could
    make us redirect to any URI they registered themselves (RFC 9700 §4.11.2)."""
    if logout.post_logout_redirect_uri is None or logout.client is None:
        return False
    return logout.client.is_vetted or logout.hinted_sub is not None


def allows_silent_logout(logout: LogoutRequest, user_id: str) -> bool:
    """§2: log the user out without asking only when the RP's id_token_hint names that user."""
    return logout.hinted_sub == user_id


def _page(description: str) -> AuthorizationPageError:
    return AuthorizationPageError(InvalidRequestError(description))
