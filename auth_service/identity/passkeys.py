"""Passkeys: WebAuthn Level 3 ceremonies with the `webauthn` library, as a relying party
whose RP ID and origin come from the issuer URL (never from the request).

- Adding one (/account/passkeys): a discoverable credential with user verification required
  (WebAuthn §5.4.6 residentKey, §5.8.6 userVerification), no attestation asked; the
  challenge is bound to the session that asked for it.
- Signing in with one (login page): no username; the challenge is bound to the browser (its
  CSRF key cookie) and the assertion must carry user verification, since it replaces the
  password: possession of the authenticator plus its PIN or biometric.
- As the second factor after a password (the two-step page): one of the account's passkeys,
  the challenge bound to the pending sign-in; user verification preferred, not required.
- Challenges: 256 random bits, kept as digests, single use (spent by one DELETE), 5 minutes.
- The signature counter (§6.1.1) must grow when the authenticator keeps one; a counter that
  goes back means a cloned authenticator, and the sign-in is refused.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token
from shared.models import Passkey, PasskeyChallenge, User

CHALLENGE_TTL = timedelta(minutes=5)
REGISTER, SIGN_IN, SECOND_FACTOR = "register", "sign-in", "second-factor"
REFUSED = "That passkey is not registered here, or it did not prove itself."
MAX_PASSKEYS = 20
AMR = "hwk user"  # RFC 8176: a key held by a device, and the user verified on it


class PasskeyError(ValueError):
    """A ceremony that did not succeed; the message is for the person (and the JSON answer)."""


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    name: str
    origin: str

    @classmethod
    def of(cls, issuer: str, name: str = "MyAuthProvider") -> RelyingParty | None:
        """None where browsers refuse passkeys: an RP ID is a domain (WebAuthn §5.1.3 and the
        "valid domain" rule of HTML), so an issuer at a bare IP address gets none."""
        parts = urlsplit(issuer)
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
            return None
        except ValueError:
            pass
        # The origin as browsers serialise it (HTML "ASCII serialization of an origin"): a
        # lower-case host and no default port.
        default = {"http": 80, "https": 443}.get(parts.scheme)
        port = f":{parts.port}" if parts.port not in (None, default) else ""
        return cls(id=host, name=name, origin=f"{parts.scheme}://{host}{port}")


def user_handle(user_id: str) -> bytes:
    """The WebAuthn user.id (§5.4.3): the account's random UUID as 16 bytes, nothing personal."""
    return uuid.UUID(user_id).bytes


async def _new_challenge(
    repos: Repositories, purpose: str, binding: str, user_id: str | None, now: datetime
) -> bytes:
    challenge = secrets.token_bytes(32)
    await repos.passkey_challenges.add(
        PasskeyChallenge(
            challenge_hash=hash_token(bytes_to_base64url(challenge)),
            purpose=purpose,
            binding=binding,
            user_id=user_id,
            expires_at=now + CHALLENGE_TTL,
        )  # fmt: skip
    )
    return challenge


async def _spend_challenge(
    repos: Repositories, credential: dict[str, Any], purpose: str, binding: str, now: datetime
) -> tuple[bytes, str | None]:
    """The challenge the browser answered (read from its clientDataJSON, checked again by the
    library), spent; with the user it was issued for."""
    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        answered = str(client_data["challenge"])
    except (KeyError, TypeError, ValueError) as error:
        raise PasskeyError("The answer from the passkey could not be read.") from error
    taken = await repos.passkey_challenges.take(
        hash_token(answered), purpose=purpose, binding=binding, now=now
    )
    if taken is None:
        raise PasskeyError("This request has expired or was already used. Try again.")
    return base64url_to_bytes(answered), taken.user_id


async def registration_options(
    repos: Repositories, rp: RelyingParty, user: User, binding: str, now: datetime
) -> dict[str, Any]:
    existing = await repos.passkeys.list_for_user(user.id)
    if len(existing) >= MAX_PASSKEYS:
        raise PasskeyError(f"An account can have at most {MAX_PASSKEYS} passkeys.")
    challenge = await _new_challenge(repos, REGISTER, binding, user.id, now)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user.username,
        user_id=user_handle(user.id),
        user_display_name=user.name or user.username,
        challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        # §5.4.3 excludeCredentials: the same authenticator is not registered twice.
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in existing
        ],
    )
    options_json: dict[str, Any] = json.loads(options_to_json(options))
    return options_json


async def register(
    repos: Repositories, rp: RelyingParty, user: User, binding: str,
    credential: dict[str, Any], name: str, now: datetime,
) -> Passkey:  # fmt: skip
    name = " ".join(name.split())[:64] or "Passkey"
    challenge, for_user = await _spend_challenge(repos, credential, REGISTER, binding, now)
    if for_user != user.id:
        raise PasskeyError("This request has expired or was already used. Try again.")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError) as error:
        raise PasskeyError("The passkey could not be added: it did not prove itself.") from error
    if len(verified.credential_id) > 1023:  # WebAuthn §5.8.3 credential id length
        raise PasskeyError("The passkey could not be added: it did not prove itself.")
    credential_id = bytes_to_base64url(verified.credential_id)
    if await repos.passkeys.get(credential_id) is not None:
        raise PasskeyError("That passkey is registered already.")
    if len(await repos.passkeys.list_for_user(user.id)) >= MAX_PASSKEYS:
        raise PasskeyError(f"An account can have at most {MAX_PASSKEYS} passkeys.")
    passkey = Passkey(
        credential_id=credential_id, user_id=user.id, name=name,
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count, backed_up=verified.credential_backed_up,
        created_at=now,
    )  # fmt: skip
    if not await repos.passkeys.add(passkey):
        raise PasskeyError("That passkey is registered already.")
    return passkey


async def sign_in_options(
    repos: Repositories, rp: RelyingParty, binding: str, now: datetime
) -> dict[str, Any]:
    challenge = await _new_challenge(repos, SIGN_IN, binding, None, now)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        allow_credentials=[],  # discoverable: the authenticator offers the account
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    options_json: dict[str, Any] = json.loads(options_to_json(options))
    return options_json


async def sign_in(
    repos: Repositories, rp: RelyingParty, binding: str, credential: dict[str, Any],
    now: datetime,
) -> tuple[User, Passkey]:  # fmt: skip
    """Passwordless: the passkey stands for both factors, so user verification is required."""
    return await _assertion(repos, rp, SIGN_IN, binding, credential, now, require_uv=True)


async def second_factor_options(
    repos: Repositories, rp: RelyingParty, user: User, binding: str, now: datetime
) -> dict[str, Any]:
    """After the password: any of the account's passkeys, bound to the pending sign-in."""
    existing = await repos.passkeys.list_for_user(user.id)
    if not existing:
        raise PasskeyError("This account has no passkey.")
    challenge = await _new_challenge(repos, SECOND_FACTOR, binding, user.id, now)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in existing
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    options_json: dict[str, Any] = json.loads(options_to_json(options))
    return options_json


async def second_factor(
    repos: Repositories, rp: RelyingParty, user: User, binding: str,
    credential: dict[str, Any], now: datetime,
) -> Passkey:  # fmt: skip
    """A passkey as the second factor after a password: possession is what it adds, so user
    verification is welcome but not required; it must be this account's."""
    owner, passkey = await _assertion(
        repos, rp, SECOND_FACTOR, binding, credential, now, require_uv=False
    )
    if owner.id != user.id:
        raise PasskeyError(REFUSED)
    return passkey


async def _assertion(
    repos: Repositories, rp: RelyingParty, purpose: str, binding: str,
    credential: dict[str, Any], now: datetime, *, require_uv: bool,
) -> tuple[User, Passkey]:  # fmt: skip
    challenge, for_user = await _spend_challenge(repos, credential, purpose, binding, now)
    refused = PasskeyError(REFUSED)
    passkey = await repos.passkeys.get(str(credential.get("id", ""))[:1400])
    if passkey is None or (for_user is not None and passkey.user_id != for_user):
        raise refused
    # §7.2 step 6: the user handle the authenticator returned names the credential's owner.
    handle = (credential.get("response") or {}).get("userHandle")
    if handle and handle != bytes_to_base64url(user_handle(passkey.user_id)):
        raise refused
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=require_uv,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError) as error:
        raise refused from error
    if not await repos.passkeys.record_use(
        passkey, sign_count=verified.new_sign_count, backed_up=verified.credential_backed_up,
        now=now,
    ):  # fmt: skip
        raise refused
    user = await repos.users.get_by_id(passkey.user_id)
    if user is None:
        raise refused
    return user, passkey
