"""Token exchange grant (RFC 8693): a service trades a user's access token for one it may use.

The subject token (and an optional actor token, for delegation: RFC 8693 §1.1, §4.1) must be one
of our own active access tokens, as introspection decides: the subject the client's own or a user's
token of a client it may exchange for (and from a grant of such a client), the actor the client's
own client_credentials token, each used with a proof of its DPoP key if bound to one. The new token
keeps the subject, the grant family (revoking the original grant revokes it too), at most the
subject's scopes and the grant's resources, and lives no longer than either token; it names its
actors in `act`. No refresh token: the service exchanges again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from auth_service.oauth.grants.base import GrantContext, GrantServices, GrantType
from auth_service.oauth.introspection import ActiveAccessTokens
from auth_service.oauth.issuance import TokenSubject, issue_token_set
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.resources import (
    ResourceRegistry,
    TokenTarget,
    default_target,
    narrow_scopes,
    resolve_resource,
)
from auth_service.oauth.tokens import TokenPolicy
from shared.claims import AccessTokenClaims
from shared.errors import (
    InvalidRequestError,
    InvalidScopeError,
    InvalidTargetError,
    UnauthorizedClientError,
)
from shared.models import Client, Grant
from shared.schemas import TokenResponse
from shared.scopes import parse_scope

# RFC 8693 §3: the only token type we accept and issue.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URI
# How many actors an `act` chain may name: each exchange adds one, and the token must stay small.
MAX_ACT_DEPTH = 5


class TokenExchangeGrant(GrantType):
    grant_type: ClassVar[str] = "urn:ietf:params:oauth:grant-type:token-exchange"
    # An operator grants it (`clients create|update --grant-type`), never self-registration.
    dynamic_registration: ClassVar[bool] = False
    # RFC 8693 §5: without client authentication anyone holding a token could trade it; so,
    # like client_credentials, only for clients that authenticate (registration refuses others).
    acts_for_user: ClassVar[bool] = False
    # RFC 8693 §2.2.1 allows a refresh token; we issue none (the subject token's family has one).
    issues_refresh_token: ClassVar[bool] = False

    def __init__(self, access_tokens: Callable[[], ActiveAccessTokens]) -> None:
        self._access_tokens = access_tokens

    @classmethod
    def build(cls, services: GrantServices) -> Self:
        return cls(services.access_tokens)

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        """RFC 8693 §2: a subject (and actor) token for an access token with `issued_token_type`."""
        if client.is_public:
            raise UnauthorizedClientError("token exchange is only for confidential clients")
        subject_token, actor_token = _validate_token_parameters(request)
        tokens = self._access_tokens()
        subject = await _presented_token(tokens, ctx, subject_token, "subject_token")
        validate_subject_client(subject, client)
        validate_proof_key(subject, ctx.dpop_jkt, "subject_token")
        actor = None
        if actor_token is not None:
            actor = await _presented_token(tokens, ctx, actor_token, "actor_token")
            validate_actor_client(actor, client)
            validate_proof_key(actor, ctx.dpop_jkt, "actor_token")
        scopes = _exchanged_scopes(request.scope, subject, client)
        act = actor_chain(subject, actor)
        grant = await _same_family(ctx, client, subject)
        if grant is not None:
            validate_grant_client(grant, client)
        target = await exchange_target(
            ctx.uow,
            ctx.minter.policy,
            client,
            audience=request.audience,
            resources=request.resources,
            subject=subject,
            scopes=scopes,
            granted=grant.resources if grant is not None else None,
        )
        _record_exchange(ctx, client, subject, actor, grant)
        # Never outlive the subject or actor token: neither holder could have used it longer.
        expires = min(subject.exp, actor.exp) if actor is not None else subject.exp
        token_subject = TokenSubject(
            sub=subject.sub,
            scopes=target.scopes,
            grant=grant,
            auth_time=(
                datetime.fromtimestamp(subject.auth_time, UTC) if subject.auth_time else None
            ),
            audience=target.audience,
            act=act,
            max_lifetime=expires - int(ctx.now.timestamp()),
        )
        response = await issue_token_set(self, ctx, client, token_subject)
        return response.model_copy(update={"issued_token_type": ACCESS_TOKEN_TYPE})


def _validate_token_parameters(request: TokenRequest) -> tuple[str, str | None]:
    """RFC 8693 §2.1: subject_token and its type are required, actor_token_type comes exactly
    with actor_token, and we issue access tokens only. A request that breaks these is not
    valid: invalid_request (RFC 8693 §2.2.2)."""
    if request.subject_token is None:
        raise InvalidRequestError("subject_token is required")
    if request.subject_token_type is None:
        raise InvalidRequestError("subject_token_type is required")
    if request.subject_token_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError(f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
    if (request.actor_token is None) != (request.actor_token_type is None):
        raise InvalidRequestError("actor_token and actor_token_type come together or not at all")
    if request.actor_token_type is not None and request.actor_token_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError(f"actor_token_type must be {ACCESS_TOKEN_TYPE}")
    if request.requested_token_type not in (None, ACCESS_TOKEN_TYPE):
        raise InvalidRequestError(f"requested_token_type must be {ACCESS_TOKEN_TYPE}")
    return request.subject_token, request.actor_token


async def _presented_token(
    tokens: ActiveAccessTokens, ctx: GrantContext, token: str, parameter: str
) -> AccessTokenClaims:
    """An active access token of ours: introspection's decision (signature, issuer, typ, exp,
    revocation). RFC 8693 §2.2.2: a token invalid for any reason is invalid_request."""
    claims = await tokens.claims(ctx.uow, token, ctx.now)
    if claims is None:
        raise InvalidRequestError(f"the {parameter} is not an active access token of this server")
    return claims


def validate_subject_client(subject: AccessTokenClaims, client: Client) -> None:
    """RFC 8693 §2.1 leaves acceptable subject tokens to policy (§2.2.2: else invalid_request).
    Ours: the client's own token, or one of a client named in `may_exchange_for` that a user
    authorized (a grant). Another client's own authority (client_credentials, no grant) is no
    user's delegation: exchanging it would let the service act as that client."""
    if subject.client_id == client.client_id:
        return
    if not client.may_exchange_tokens_of(subject.client_id):
        raise InvalidRequestError(
            "the subject_token was issued to a client whose tokens this client may not exchange"
        )
    if subject.grant_id is None:
        raise InvalidRequestError("a subject_token of another client must come from a user grant")


def validate_actor_client(actor: AccessTokenClaims, client: Client) -> None:
    """RFC 8693 §4.1: the actor token names who acts, and the one acting is the requesting
    client: only a token issued to it (its client_credentials token, say) may name the actor,
    or a client could claim to act as anyone whose token it holds (§2.2.2: invalid_request)."""
    if actor.client_id != client.client_id:
        raise InvalidRequestError("the actor_token must be a token issued to this client")
    if actor.grant_id is not None:
        # A user's token of the client would make `act.sub` that user's id: the actor named
        # would not be the client acting. So only the client's own authority (no user grant).
        raise InvalidRequestError("the actor_token must be a client_credentials token")


def validate_grant_client(grant: Grant, client: Client) -> None:
    """The user authorized the grant's client, which is not always the subject token's: an
    exchanged token is issued to the service but keeps its grant. `may_exchange_for` names
    whose users' authority the client may trade (RFC 8693 §5), so it must cover the grant's
    client too, or an allowance for a service would chain on to every app that service may
    exchange for (RFC 8693 §2.2.2: invalid_request)."""
    if not client.may_exchange_tokens_of(grant.client_id):
        raise InvalidRequestError(
            "the subject_token comes from a grant of a client whose tokens this client may not"
            " exchange"
        )


def validate_proof_key(token: AccessTokenClaims, dpop_jkt: str | None, parameter: str) -> None:
    """RFC 9449 §6.1: a DPoP-bound token is used only with a proof of its key, and the token
    endpoint is no exception: without it a stolen bound token could be traded for another. The
    request's proof then binds the new token to that same key (RFC 9449 §5)."""
    bound = token.dpop_jkt
    if bound is None or bound == dpop_jkt:
        return
    if dpop_jkt is None:
        raise InvalidRequestError(f"the {parameter} is bound to a DPoP key: send a DPoP proof")
    raise InvalidRequestError(f"the DPoP proof key is not the key the {parameter} is bound to")


def _exchanged_scopes(
    scope: str | None, subject: AccessTokenClaims, client: Client
) -> frozenset[str]:
    """RFC 8693 §2.1 scope, within the subject token's scopes (a token exchange never widens
    them) and the client's own (RFC 6749 §3.3); by default the subject's scopes the client has."""
    requested = parse_scope(scope) if scope is not None else subject.scopes & client.scopes
    if not requested:
        raise InvalidScopeError(
            "no scope to exchange: the subject token has none the client may use"
        )
    wider = requested - subject.scopes
    if wider:
        # RFC 6749 §5.2 invalid_scope: it exceeds what the resource owner granted.
        raise InvalidScopeError(f"scope {sorted(wider)[0]} is not in the subject token's scope")
    outside = requested - client.scopes
    if outside:
        raise InvalidScopeError(f"scope not allowed for this client: {sorted(outside)[0]}")
    return requested


async def exchange_target(
    registry: ResourceRegistry,
    policy: TokenPolicy,
    client: Client,
    *,
    audience: str | None,
    resources: Sequence[str],
    subject: AccessTokenClaims,
    scopes: frozenset[str],
    granted: Sequence[str] | None,
) -> TokenTarget:
    """The exchanged token's `aud` and scopes (RFC 8693 §2.1 audience/resource, RFC 8707 §2).
    Absent, the subject token's audience. A subject token from a user's grant keeps to what the
    user authorized (`granted`, RFC 8707 §2.1): one of the grant's resources, or, when it named
    none, the default audience only, as a refresh of that grant would (`token_target`); an
    exchange never widens it. `granted` None (a client_credentials subject) allows any target
    the client may have. A named resource must be registered and allowed for the client
    (`resolve_resource`), the default audience follows `default_target`, and the scopes narrow
    to what the target serves. Anything else is invalid_target (RFC 8693 §2.2.2)."""
    if len(resources) > 1:
        raise InvalidTargetError("only one resource per token request (RFC 8707 section 2.2)")
    resource = resources[0] if resources else None
    if audience is not None and resource is not None and audience != resource:
        raise InvalidTargetError("audience and resource name different targets: ask for one")
    target = resource or audience
    if target is None:
        if not isinstance(subject.aud, str):
            raise InvalidTargetError("name the target with audience or resource")
        target = subject.aud
    if granted is not None and target not in (granted or (policy.audience,)):
        raise InvalidTargetError("the target is not among the resources the user authorized")
    if target == policy.audience:
        # The same rule as every other grant's default audience: a client limited to some
        # resources gets none for it, and the OIDC scopes stay (OIDC Core §5.3).
        return await default_target(registry, client, scopes, policy.audience)
    server = await resolve_resource(registry, client, target)
    return TokenTarget(server.uri, narrow_scopes(scopes, server))


def actor_chain(
    subject: AccessTokenClaims, actor: AccessTokenClaims | None
) -> dict[str, Any] | None:
    """RFC 8693 §4.1: `act` names the current actor; the subject token's own `act` (earlier
    actors) nests inside it. Without an actor token the chain stays as it was, so a delegated
    token cannot be exchanged into one that hides its delegation."""
    if actor is None:
        return subject.act
    act: dict[str, Any] = {"sub": actor.sub}
    if subject.act is not None:
        act["act"] = subject.act
    if _depth(act) > MAX_ACT_DEPTH:
        raise InvalidRequestError("the delegation chain of the subject_token is too long")
    return act


def _depth(act: dict[str, Any]) -> int:
    inner = act.get("act")
    return 1 + (_depth(inner) if isinstance(inner, dict) else 0)


async def _same_family(
    ctx: GrantContext, client: Client, subject: AccessTokenClaims
) -> Grant | None:
    """The subject token's grant, locked and live: the exchanged token joins its family, so a
    revocation of the grant revokes both. A subject token without one (client_credentials)
    has no family to join, and nor has the exchanged token."""
    if subject.grant_id is None:
        return None
    grant = await ctx.lock_grant_for_issue(subject.grant_id, client)
    if grant is None:
        # Revoked since introspection's view of revocations was last synced (RFC 8693 §2.2.2).
        raise InvalidRequestError("the subject_token is not an active access token of this server")
    return grant


def _record_exchange(
    ctx: GrantContext,
    client: Client,
    subject: AccessTokenClaims,
    actor: AccessTokenClaims | None,
    grant: Grant | None,
) -> None:
    # Who acts for whom, through which client: the delegation a later review needs to see.
    ctx.audit.record(
        "token_exchanged",
        user_id=grant.user_id if grant is not None else None,
        client_id=client.client_id,
        sub=subject.sub,
        actor=actor.sub if actor is not None else None,
        subject_client_id=subject.client_id,
        grant_id=grant.id if grant is not None else None,
        # The client the user authorized, which a chain of exchanges may have left behind.
        grant_client_id=grant.client_id if grant is not None else None,
    )
