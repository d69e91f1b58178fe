"""SQLModel tables of both services; importing this package registers every table in the metadata."""

from shared.models.audit import AuditEvent
from shared.models.authorization_requests import PendingAuthorization
from shared.models.clients import Client
from shared.models.device_authorizations import DeviceAuthorization
from shared.models.grants import AuthorizationCode, Consent, Grant, RefreshToken
from shared.models.jobs import ScheduledJob
from shared.models.keys import SigningKey
from shared.models.mail import MailedToken, MailMessage
from shared.models.notes import Note
from shared.models.passkeys import Passkey, PasskeyChallenge
from shared.models.pushed_requests import PushedAuthorizationRequest
from shared.models.resource_servers import ResourceServer
from shared.models.revocations import RevocationEvent
from shared.models.upstreams import UpstreamLink, UpstreamProvider
from shared.models.used_jtis import UsedJti
from shared.models.users import RecoveryCode, User, UserSession

__all__ = [
    "AuditEvent",
    "AuthorizationCode",
    "Client",
    "Consent",
    "DeviceAuthorization",
    "Grant",
    "MailMessage",
    "MailedToken",
    "Note",
    "Passkey",
    "PasskeyChallenge",
    "PendingAuthorization",
    "PushedAuthorizationRequest",
    "RecoveryCode",
    "RefreshToken",
    "ResourceServer",
    "RevocationEvent",
    "ScheduledJob",
    "SigningKey",
    "UpstreamLink",
    "UpstreamProvider",
    "UsedJti",
    "User",
    "UserSession",
]
