"""Device authorization (RFC 8628): the device's request (§3.1-3.2), and the user's answer to it
on a second screen (§3.3), which starts a token family as a code flow's consent does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from auth_service.oauth.authorize.validation import validate_scope
from auth_service.oauth.resources import ResourceRegistry, validate_resources
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token, new_token
from auth_service.security.user_codes import display_user_code, new_user_code, user_code_digest
from shared.errors import ServerError, UnauthorizedClientError
from shared.models import Client, DeviceAuthorization, Grant, UserSession
from shared.models.device_authorizations import APPROVED, DENIED, PENDING
from shared.scopes import format_scope

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4
VERIFICATION_PATH = "/device"
# A fresh user code collides with a stored one about once in 20**8 / rows tries: a few draws
# always suffice; failing all of them means something else is wrong.
USER_CODE_DRAWS = 8
GONE = "This code was already answered or has expired. Start again on your device."
CLIENT_CHANGED = (
    "This app may no longer connect devices with these permissions. Nothing was changed. "
    "Start again on your device."
)


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
    registry: ResourceRegistry,
    resources: Sequence[str],
    user_code_key: bytes,
    issuer: str,
    now: datetime,
    lifetime: int,
    interval: int,
) -> DeviceAuthorizationResponse:
    """RFC 8628 §3.1-3.2: an authenticated client that registered the device grant asks for
    scopes it may have (checked as at the authorization endpoint); both codes are new and only
    their digests are kept (the user code's keyed: see security.user_codes)."""
    if not client.allows_grant_type(DEVICE_CODE_GRANT):
        raise UnauthorizedClientError("this client may not use the device authorization grant")
    scopes = validate_scope(form.get("scope"), client)
    # RFC 8707 §2.1 as at /oauth/authorize: invalid_target before anything is stored; the
    # approval's grant keeps them, and each token is for one of them (§2.2).
    targets = await validate_resources(registry, client, resources, scopes)
    # RFC 8628 §3.2 / §5.2: the device code is a credential, 256 random bits like our codes.
    device_code = new_token()
    for _ in range(USER_CODE_DRAWS):
        user_code = new_user_code()
        row = DeviceAuthorization(
            device_code_hash=hash_token(device_code),
            user_code_hash=user_code_digest(user_code_key, user_code),
            client_id=client.client_id,
            scope=format_scope(scopes),
            resources=list(targets),
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


async def find_by_user_code(
    repos: Repositories, user_code_key: bytes, user_code: str
) -> DeviceAuthorization | None:
    """The request a normalized user code names, whatever its state."""
    return await repos.devices.get_by_user_code_hash(user_code_digest(user_code_key, user_code))


def answered_problem(row: DeviceAuthorization, now: datetime) -> str | None:
    """Why the user can no longer answer this request, in words for the page; None if they can."""
    if row.status == APPROVED:
        return "This code was already used to allow a device. There is nothing more to do."
    if row.status == DENIED:
        return "This code was denied. To sign in the device, start again on it."
    if row.expires_at <= now:
        return "This code has expired. Start again on your device to get a new code."
    return None


def still_allowed(client: Client | None, row: DeviceAuthorization) -> bool:
    """Whether the client may still get what the request asked for: an operator may have taken
    the device grant, a scope or a resource away while the user was signing in."""
    return (
        client is not None
        and client.allows_grant_type(DEVICE_CODE_GRANT)
        and row.scopes <= client.scopes
        and all(client.allows_resource(uri) for uri in row.resources)
    )


async def approve(
    repos: Repositories, row: DeviceAuthorization, session: UserSession, now: datetime
) -> str | None:
    """RFC 8628 §3.3: the user allowed the device. Record the answer first (one conditional
    UPDATE: a second answer or an expired request changes nothing), then start the token
    family and remember the consent, as the code flow does. Why it could not, or None."""
    if not still_allowed(await repos.clients.get_by_client_id(row.client_id), row):
        return CLIENT_CHANGED
    if not await repos.devices.decide(
        row.device_code_hash, APPROVED, now, user_id=session.user_id, auth_time=session.auth_time
    ):
        return GONE
    grant = await repos.grants.add(
        Grant(
            user_id=session.user_id,
            client_id=row.client_id,
            scope=row.scope,
            auth_time=session.auth_time,
            created_at=now,
            resources=list(row.resources),
        )
    )
    await repos.devices.link_grant(row.device_code_hash, grant.id)
    await repos.consents.record(session.user_id, row.client_id, row.scopes, now)
    return None


async def deny(
    repos: Repositories, row: DeviceAuthorization, session: UserSession, now: datetime
) -> str | None:
    """RFC 8628 §3.5: the device's next poll gets access_denied. Why not, if already answered."""
    if await repos.devices.decide(row.device_code_hash, DENIED, now, user_id=session.user_id):
        return None
    return GONE
