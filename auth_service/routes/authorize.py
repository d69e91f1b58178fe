"""GET/POST /oauth/authorize (RFC 6749 §4.1.1; OIDC Core §3.1.2.1 allows POST)."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from starlette.responses import Response

from auth_service.clients.metadata_documents import MetadataDocumentError
from auth_service.deps import (
    AuditorDep,
    ClientIp,
    KeyStoreDep,
    Now,
    ReposDep,
    SettingsDep,
    ThrottleDep,
    UnitOfWorkDep,
    client_by_id,
    get_browser_session,
    request_object_context,
)
from auth_service.oauth.authorize.pending import save_pending
from auth_service.oauth.authorize.pushed import authorization_params
from auth_service.oauth.authorize.request import AuthorizationPageError
from auth_service.oauth.authorize.steps import Step
from auth_service.oauth.authorize.validation import (
    known_client,
    validate_authorization_request,
    validate_request_resources,
)
from auth_service.oauth.id_token_hint import validate_min_auth_time
from auth_service.oauth.requests import parse_form_items, take_repeatable, unique_params
from auth_service.oauth.resources import RESOURCE_PARAM
from auth_service.routes.authorization_flow import decide, finish_with_code, to_step_page
from shared.errors import InvalidRequestError, OAuthError
from shared.models import Client

router = APIRouter(tags=["oauth"])


async def _request_items(request: Request) -> list[tuple[str, str]]:
    if request.method == "GET":
        return request.query_params.multi_items()
    try:
        return parse_form_items(await request.body(), request.headers.get("content-type"))
    except OAuthError as error:
        raise AuthorizationPageError(error) from None


# Two registrations, not one api_route: each method then gets its own OpenAPI operation id.
@router.get("/oauth/authorize")
@router.post("/oauth/authorize")
async def authorize(
    request: Request,
    uow: UnitOfWorkDep,
    repos: ReposDep,
    settings: SettingsDep,
    audit: AuditorDep,
    keys: KeyStoreDep,
    throttle: ThrottleDep,
    ip: ClientIp,
    now: Now,
) -> Response:
    await throttle.hit_address("authorize-ip", ip, throttle.policy.authorize_per_ip)
    # RFC 8707 §2.1: `resource` may be repeated, unlike every other parameter.
    items, resources = take_repeatable(await _request_items(request), RESOURCE_PARAM)
    params, repeated = unique_params(items)
    client = await _client(request, repos, params.get("client_id"))
    # Read after the client: resolving a URL client_id may fetch its metadata document, and no
    # database transaction should wait on that (deps.client_by_id).
    session = await get_browser_session(request, repos, now)
    sent = await authorization_params(
        repos,
        params,
        repeated,
        client,
        server_requires_par=settings.require_par,
        now=now,
        request_objects=request_object_context(request, repos),
        resources=resources,
    )
    client = known_client(sent.params, sent.repeated, client)  # unknown: our error page
    authz = validate_authorization_request(sent.params, sent.repeated, client)
    authz = await validate_request_resources(uow, authz, sent.resources, client)
    if sent.pushed_request_hash is not None:
        authz = replace(authz, pushed_request_hash=sent.pushed_request_hash)
    min_auth_time = await validate_min_auth_time(
        sent.params, authz, session, keys=keys, issuer=settings.issuer, now=now
    )
    step = await decide(repos, authz, session=session, min_auth_time=min_auth_time)
    if step is Step.ISSUE_CODE and session is not None:
        return await finish_with_code(request, repos, authz, session=session, audit=audit, now=now)
    request_id = await save_pending(
        repos, authz, now=now, ttl=settings.pending_request_ttl, min_auth_time=min_auth_time
    )
    return to_step_page(step, request_id)


async def _client(request: Request, repos: ReposDep, client_id: str | None) -> Client | None:
    """The client named by the request, or None; a URL client_id whose metadata document
    cannot be used is shown on our error page, never redirected (RFC 6749 §4.1.2.1)."""
    if client_id is None:
        return None
    try:
        return await client_by_id(request, repos, client_id)
    except MetadataDocumentError as error:
        raise AuthorizationPageError(InvalidRequestError(str(error))) from None
