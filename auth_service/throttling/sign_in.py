"""What a sign-in attempt is counted against, and what may refuse it.

Built after the OWASP Authentication and Credential Stuffing Prevention cheat sheets and ASVS 5.0
V6.3.1 (at most about 100 failed attempts per account per hour):
- per account, from every address together: failures lead to a growing wait, never a lock;
- per address (IPv6 by /64): failures and the distinct usernames that failed are counted, never
  successes, so an office or a carrier's CGNAT full of people signing in is never slowed; past a
  count of failures each one doubles a wait, past a count of failed usernames (a sprayer) the
  address is refused until the window ends. A ceiling on all attempts only bounds load;
- an account that has signed in from an address before (within `known_account_memory`) is not
  held by that address's waits: a co-tenant failing on purpose, or a sprayer on the same CGNAT,
  then stops only newcomers there, not the office's regular users (browsers without cookies
  and password-grant apps included); the account's own wait still applies;
- a browser holding a device cookie for the account (OWASP "Slow Down Online Guessing Attacks
  with Device Cookies") skips the account's and the address's waits, so an attack on the account
  does not lock its owner out; failures with a device cookie are counted per cookie, and past
  `device_failures.count` the cookie is an unknown browser again until its window ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from auth_service.throttling.addresses import address_group
from auth_service.throttling.policy import Throttle, ThrottlePolicy, account_key

LOGIN = "login"  # per account
LOGIN_IP = "login-ip"  # failures per address
LOGIN_IP_ALL = "login-ip-all"  # the load ceiling per address
LOGIN_IP_USERNAMES = "login-ip-users"
LOGIN_IP_KNOWN = "login-ip-known"  # accounts that signed in from an address
DEVICE = "device"
SECOND_FACTOR = "second-factor"  # per pending sign-in
SECOND_FACTOR_ACCOUNT = "second-factor-account"


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    account: str  # account_key(username)
    address: str  # address_group(ip)
    device: str | None = None  # id of a device cookie for this account that is not locked out

    @classmethod
    def of(cls, username: str, ip: str | None, device: str | None = None) -> SignInAttempt:
        return cls(account_key(username), address_group(ip), device)


class SignInThrottle:
    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle

    @property
    def policy(self) -> ThrottlePolicy:
        return self.throttle.policy

    async def trusted_device(self, device_id: str | None) -> str | None:
        """`device_id` unless failures with it have locked it out (OWASP device cookies)."""
        if device_id is None or await self.throttle.is_refused(DEVICE, device_id):
            return None
        return device_id

    async def check(self, attempt: SignInAttempt) -> None:
        """Raise TooManyRequestsError when this attempt must wait."""
        await self.throttle.hit(LOGIN_IP_ALL, attempt.address, self.policy.login_per_ip)
        if attempt.device is not None:
            return
        if not await self.throttle.remembers(LOGIN_IP_KNOWN, _pair(attempt)):
            await self.throttle.check_delay(LOGIN_IP_USERNAMES, attempt.address)
            await self.throttle.check_delay(LOGIN_IP, attempt.address)
        # Counted before the password is checked, so attempts sent together from many
        # addresses cannot all get past the account's wait.
        await self.throttle.begin_attempt(LOGIN, attempt.account, self.policy.login_account)

    async def failed(self, attempt: SignInAttempt) -> None:
        if attempt.device is not None:
            await self.device_failed(attempt.device)
            return
        throttle, policy = self.throttle, self.policy
        await throttle.failed(LOGIN_IP, attempt.address, policy.login_ip)
        window = policy.login_ip_usernames
        if await throttle.first_time(LOGIN_IP_USERNAMES + "-seen", _pair(attempt), window.seconds):
            await throttle.count(LOGIN_IP_USERNAMES, attempt.address, window)

    async def succeeded(self, attempt: SignInAttempt) -> None:
        """The account's failures are forgotten, but not on a device cookie's success: an attack
        running meanwhile from elsewhere keeps its wait. The address's count is never reset."""
        if attempt.device is not None:
            await self.throttle.succeeded(DEVICE, attempt.device)
        else:
            await self.throttle.succeeded(LOGIN, attempt.account)
        memory = self.policy.known_account_memory
        await self.throttle.remember(LOGIN_IP_KNOWN, _pair(attempt), memory)

    async def device_failed(self, device_id: str) -> None:
        await self.throttle.count(DEVICE, device_id, self.policy.device_failures)

    # --- The second factor: per pending sign-in, plus a higher ceiling per account ---

    async def check_second_factor(self, login_id: str, user_id: str, device: str | None) -> None:
        """Keyed by the pending sign-in, so whoever has the password cannot stall the owner's own
        second step; the per-account ceiling bounds guesses over many sign-ins and does not
        apply to a browser with the account's device cookie."""
        await self.throttle.check_delay(SECOND_FACTOR, login_id)
        if device is None:
            await self.throttle.begin_attempt(
                SECOND_FACTOR_ACCOUNT, user_id, self.policy.second_factor_account
            )

    async def second_factor_failed(self, login_id: str, user_id: str, device: str | None) -> None:
        await self.throttle.failed(SECOND_FACTOR, login_id, self.policy.second_factor_login)
        if device is not None:
            await self.device_failed(device)

    async def second_factor_succeeded(
        self, login_id: str, user_id: str, device: str | None
    ) -> None:
        """This attempt is taken back from the account's count, the others' stay: it bounds
        guesses by whoever else has the password."""
        await self.throttle.succeeded(SECOND_FACTOR, login_id)
        if device is not None:
            await self.throttle.succeeded(DEVICE, device)
        else:
            await self.throttle.undo_attempt(SECOND_FACTOR_ACCOUNT, user_id)


def _pair(attempt: SignInAttempt) -> str:
    return f"{attempt.address}|{attempt.account}"
