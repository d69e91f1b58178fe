"""POST /oauth/revoke (RFC 7009) and GET /oauth/revocations, the feed resource servers follow."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from auth_service.deps import (
    ClientCallDep,
    ClientIp,
    KeyStoreDep,
    Now,
    ReposDep,
    SettingsDep,
    ThrottleDep,
)
from auth_service.oauth.requests import require_unique
from auth_service.oauth.revocation import revoke_token
from auth_service.revocations.feed import feed_page, holds_feed_token, validate_feed_token
from shared.errors import NO_STORE_HEADERS, InvalidRequestError
from shared.input_guard import MAX_DB_INTEGER

router = APIRouter(tags=["oauth"])
MAX_SINCE = 1e11  # beyond year 5000: a bogus value, not a timestamp


@router.post("/oauth/revoke")
async def revoke(call: ClientCallDep, keys: KeyStoreDep, settings: SettingsDep) -> Response:
    token = call.form.get("token")
    if token is None:
        raise InvalidRequestError("token is required")
    await revoke_token(
        call.uow.repos,
        token=token,
        token_type_hint=call.form.get("token_type_hint"),
        client=call.client,
        keys=keys,
        issuer=settings.issuer,
        audience=settings.resource_audience,
        now=call.now,
    )
    # RFC 7009 §2.2: 200 whether or not there was anything to revoke.
    return Response(status_code=200, headers=NO_STORE_HEADERS)


@router.get("/oauth/revocations")
async def revocation_feed(
    request: Request,
    repos: ReposDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    ip: ClientIp,
    now: Now,
) -> JSONResponse:
    """Unexpired revocations created at or after `since` (Unix seconds), by id after `after`.

    Only random token, grant and client ids are listed, which give nobody any power; but when
    they were revoked is news a deployment may keep private (AUTH_REVOCATION_FEED_TOKEN). Each
    page is a database read, so requests per address are bounded, wrong tokens included;
    followers holding the token are not counted (a burst of announcements makes each of them
    poll at once, and many can share one address).
    """
    authorization = request.headers.get("authorization")
    if not holds_feed_token(authorization, settings.revocation_feed_token):
        await throttle.hit_address("feed-ip", ip, throttle.policy.revocation_feed_per_ip)
        validate_feed_token(authorization, settings.revocation_feed_token)
    params = require_unique(request.query_params.multi_items())
    try:
        since = float(params.get("since", "0"))
        after = int(params.get("after", "0"))
    except ValueError:
        raise InvalidRequestError("since and after must be numbers") from None
    if not 0 <= since <= MAX_SINCE or not 0 <= after <= MAX_DB_INTEGER:
        raise InvalidRequestError("since or after is out of range")
    body = await feed_page(
        repos.revocations, since=datetime.fromtimestamp(since, UTC), after=after, now=now
    )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
