"""Device authorization (RFC 8628): the device's request (§3.1-3.2), and the user's answer to it
on a second screen (§3.3), which starts a token family as a code flow's consent does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from auth_service.oauth.authorize.validation import validate_scope
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token, new_token
from auth_service.security.user_codes import display_user_code, new_user_code
from shared.errors import ServerError, UnauthorizedClientError
from shared.models import Client, DeviceAuthorization, Grant, UserSession
from shared.models.device_authorizations import APPROVED, DENIED, PENDING
from shared.scopes import format_scope

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4
VERIFICATION_PATH = "/device"
# A fresh user code collides with a stored one about once in 20**8 / rows tries: a few draws
# always suffice; failing all of them means something else is wrong.
USER_CODE_DRAWS = 8


@dataclass(frozen=True, slots=True)
class DeviceAuthorizationResponse:
    """RFC 8628 §3.2: the success response."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int

    def to_wire(self) -> dict[str, str | int]:
        return {
            "device_code": self.device_code,
            "user_code": self.user_code,
            "verification_uri": self.verification_uri,
            "verification_uri_complete": self.verification_uri_complete,
            "expires_in": self.expires_in,
            "interval": self.interval,
        }


async def start_device_authorization(
    repos: Repositories,
    client: Client,
    form: dict[str, str],
    *,
    issuer: str,
    now: datetime,
    lifetime: int,
    interval: int,
) -> DeviceAuthorizationResponse:
    """RFC 8628 §3.1-3.2: an authenticated client that registered the device grant asks for
    scopes it may have (checked as at the authorization endpoint); both codes are new and only
    their digests are kept."""
    if not client.allows_grant_type(DEVICE_CODE_GRANT):
        raise UnauthorizedClientError("this client may not use the device authorization grant")
    scopes = validate_scope(form.get("scope"), client)
    # RFC 8628 §3.2 / §5.2: the device code is a credential, 256 random bits like our codes.
    device_code = new_token()
    for _ in range(USER_CODE_DRAWS):
        user_code = new_user_code()
        row = DeviceAuthorization(
            device_code_hash=hash_token(device_code),
            user_code_hash=hash_token(user_code),
            client_id=client.client_id,
            scope=format_scope(scopes),
            status=PENDING,
            interval=interval,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
        )
        if await repos.devices.add(row):
            break
    else:
        raise ServerError("no free user code could be drawn")
    verification_uri = issuer + VERIFICATION_PATH
    shown = display_user_code(user_code)
    return DeviceAuthorizationResponse(
        device_code=device_code,
        user_code=shown,
        verification_uri=verification_uri,
        # RFC 8628 §3.3.1: the code in the URI too, for a QR code; the page still asks (§5.4).
        verification_uri_complete=f"{verification_uri}?{urlencode({'user_code': shown})}",
        expires_in=lifetime,
        interval=interval,
    )


async def find_by_user_code(repos: Repositories, user_code: str) -> DeviceAuthorization | None:
    """The request a normalized user code names, whatever its state."""
    return await repos.devices.get_by_user_code_hash(hash_token(user_code))


def answered_problem(row: DeviceAuthorization, now: datetime) -> str | None:
    """Why the user can no longer answer this request, in words for the page; None if they can."""
    if row.status == APPROVED:
        return "This code was already used to allow a device. There is nothing more to do."
    if row.status == DENIED:
        return "This code was denied. To sign in the device, start again on it."
    if row.expires_at <= now:
        return "This code has expired. Start again on your device to get a new code."
    return None


async def approve(
    repos: Repositories, row: DeviceAuthorization, session: UserSession, now: datetime
) -> bool:
    """RFC 8628 §3.3: the user allowed the device. Record the answer first (one conditional
    UPDATE: a second answer or an expired request changes nothing and returns False), then
    start the token family and remember the consent, as the code flow does."""
    if not await repos.devices.decide(
        row.device_code_hash, APPROVED, now, user_id=session.user_id, auth_time=session.auth_time
    ):
        return False
    grant = await repos.grants.add(
        Grant(
            user_id=session.user_id,
            client_id=row.client_id,
            scope=row.scope,
            auth_time=session.auth_time,
            created_at=now,
        )
    )
    await repos.devices.link_grant(row.device_code_hash, grant.id)
    await repos.consents.record(session.user_id, row.client_id, row.scopes, now)
    return True


async def deny(
    repos: Repositories, row: DeviceAuthorization, session: UserSession, now: datetime
) -> bool:
    """RFC 8628 §3.5: the device's next poll gets access_denied. False if already answered."""
    return await repos.devices.decide(row.device_code_hash, DENIED, now, user_id=session.user_id)
