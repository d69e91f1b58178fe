"""Device authorization grant: the token request a device polls with (RFC 8628 §3.4, §3.5)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, NoReturn

from auth_service.oauth.device_authorization import DEVICE_CODE_GRANT
from auth_service.oauth.grants.base import GrantContext, GrantType
from auth_service.oauth.issuance import TokenSubject, bind_refresh_to_dpop_key, issue_token_set
from auth_service.oauth.requests import TokenRequest
from auth_service.oauth.resources import token_target
from auth_service.oauth.revocation import revoke_family
from auth_service.security.secrets import hash_token
from shared.errors import (
    AuthorizationPendingError,
    DeviceAccessDeniedError,
    ExpiredTokenError,
    InvalidGrantError,
    InvalidRequestError,
    SlowDownError,
)
from shared.models import Client, DeviceAuthorization
from shared.models.device_authorizations import DENIED, PENDING
from shared.schemas import TokenResponse

SLOW_DOWN_STEP = 5  # RFC 8628 §3.5: seconds added to the interval at each slow_down
# RFC 8628 §3.5 has the device wait `interval` seconds between requests; it measures from when
# it got our answer, we from when its request arrives, and network delays differ: a poll up to
# this much early is still on time.
POLL_JITTER = timedelta(seconds=1)


class DeviceCodeGrant(GrantType):
    grant_type: ClassVar[str] = DEVICE_CODE_GRANT
    # Devices and command-line tools register like any app (RFC 7591), but a browser app has no
    # use for it: the portal does not hand it out by default.
    for_browser_apps: ClassVar[bool] = False

    async def exchange(
        self, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        """RFC 8628 §3.4-3.5: answer a poll with the user's decision so far, and once approved
        redeem the device code, once, for the client it was issued to."""
        if request.device_code is None:
            raise InvalidRequestError("device_code is required")
        code_hash = hash_token(request.device_code)
        row = await ctx.repos.devices.get_by_device_code_hash(code_hash)
        # RFC 8628 §3.4: the device code must have been issued to the authenticated client.
        if row is None or row.client_id != client.client_id:
            raise InvalidGrantError("device_code is invalid")
        if row.used_at is not None:
            await self._refuse_reuse(row, client, ctx)
        if row.expires_at <= ctx.now:
            raise ExpiredTokenError("the device_code has expired: start a new device authorization")
        if row.status == DENIED:
            raise DeviceAccessDeniedError("the user denied the request")
        if row.status == PENDING:
            await self._still_pending(row, ctx)
        redeemed = await ctx.repos.devices.redeem(code_hash, ctx.now)
        if redeemed is None:  # a concurrent poll redeemed it between our read and now
            await self._refuse_reuse(row, client, ctx)
        return await self._issue(redeemed, request, client, ctx)

    async def _still_pending(self, row: DeviceAuthorization, ctx: GrantContext) -> NoReturn:
        """RFC 8628 §3.5: authorization_pending, or slow_down when this poll came sooner than
        the interval after the last one; the raised interval holds for every later poll. The
        poll is committed before the error, which would otherwise roll it back."""
        previous = row.last_polled_at
        too_fast = previous is not None and ctx.now < (
            previous + timedelta(seconds=row.interval) - POLL_JITTER
        )
        interval = row.interval + SLOW_DOWN_STEP if too_fast else row.interval
        if not await ctx.repos.devices.note_poll(row.device_code_hash, previous, ctx.now, interval):
            too_fast = True  # another poll was noted since we read: two at once is too fast
        await ctx.repos.session.commit()
        if too_fast:
            raise SlowDownError(
                f"polling too fast: wait at least {interval} seconds between requests "
                "(RFC 8628 section 3.5)"
            )
        raise AuthorizationPendingError("the user has not yet answered the authorization request")

    async def _refuse_reuse(
        self, row: DeviceAuthorization, client: Client, ctx: GrantContext
    ) -> NoReturn:
        """A redeemed device code came back: like a reused authorization code (RFC 6749 §4.1.2),
        whoever redeemed it first may have stolen it, so the family it obtained is revoked, and
        the revocation is committed before the error."""
        if row.grant_id is not None:
            await revoke_family(ctx.repos, row.grant_id, ctx.now)
        ctx.audit.record("device_code_reused", user_id=row.user_id, client_id=client.client_id)
        await ctx.repos.session.commit()
        raise InvalidGrantError("device_code was already used")

    async def _issue(
        self, row: DeviceAuthorization, request: TokenRequest, client: Client, ctx: GrantContext
    ) -> TokenResponse:
        grant = await ctx.lock_grant_for_issue(row.grant_id, client) if row.grant_id else None
        if grant is None or row.user_id is None or row.auth_time is None:
            # Revoked since the approval (the user withdrew the app): the redemption stands.
            await ctx.repos.session.commit()
            raise InvalidGrantError("the authorization was revoked")
        scopes = row.scopes
        # RFC 8707 §2.2 as for a code: one of the resources the device asked for (the only one
        # by default), scopes narrowed to what it serves. Refused, the redemption is rolled back.
        target = await token_target(
            ctx.uow,
            client,
            request.resources,
            scopes,
            granted=grant.resources,
            default_audience=ctx.minter.policy.audience,
        )
        await bind_refresh_to_dpop_key(ctx, grant, client)
        subject = TokenSubject(
            sub=row.user_id,
            scopes=target.scopes,
            grant=grant,
            auth_time=row.auth_time,
            # The ID token does not depend on the resource: the client is its audience.
            id_token="openid" in scopes,  # OIDC Core §3.1.3.3, as for a code
            # The refresh token keeps the whole grant, for tokens for its other resources.
            refresh_scopes=scopes,
            audience=target.audience,
        )
        return await issue_token_set(self, ctx, client, subject)
