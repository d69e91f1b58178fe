"""Throttling policies against brute force and abuse, on top of a CounterStore.

Two shapes: a fixed window per key (a ceiling on requests per address or per client), and a
growing delay after repeated failures (sign-in per account and per address, second factor per
sign-in and per account, client authentication per client and address). A delay always ends,
so an attacker can slow an account down but never lock its owner out (OWASP Authentication
cheat sheet, "Account Lockout"; ASVS 5.0 V6.3.1). What the sign-in steps combine out of these
lives in `throttling.sign_in`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from auth_service.throttling.addresses import address_group
from auth_service.throttling.counters import CounterStore
from shared.errors import TooManyRequestsError


@dataclass(frozen=True, slots=True)
class Window:
    count: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Backoff:
    """After `free` failures, each further one doubles a wait (1 s, 2 s, 4 s ...) up to
    `max_delay`. Failures are remembered `memory` seconds: from the last one (`sliding`) or, for
    counters many people share, from the first, so ordinary mistakes never add up forever."""

    free: int
    max_delay: float
    memory: float
    sliding: bool = True


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    enabled: bool
    login_per_ip: Window  # every sign-in attempt per address: bounds load, sized for offices
    login_account: Backoff  # failed sign-ins per account, from every address together
    login_ip: Backoff  # failed sign-ins per address (fixed window)
    login_ip_usernames: Window  # distinct usernames that failed per address, then refused
    device_failures: Window  # failures before a device cookie stops exempting, and for how long
    second_factor_login: Backoff  # wrong codes per pending sign-in
    second_factor_account: Backoff  # wrong codes per account, browsers without a device cookie
    client_auth: Backoff  # failed client authentication per client and address
    token_per_client: Window  # per confidential client; per public client and address
    signup_per_ip: Window
    registration_per_ip: Window
    authorize_per_ip: Window
    unknown_clients_per_ip: Window
    revocation_feed_per_ip: Window = Window(6000, 60)  # GET /oauth/revocations
    # Wrong user codes at /device per address (RFC 8628 §5.1), fixed window: offices share one.
    device_user_code_ip: Backoff = Backoff(10, 60, 3600, sliding=False)
    # Every user-code lookup per address (a load ceiling, sized for offices), and wrong codes
    # from all addresses together: past its `free` every lookup anywhere waits (RFC 8628 §5.1).
    device_lookup_per_ip: Window = Window(300, 60)
    device_user_code_all: Backoff = Backoff(1000, 60, 3600, sliding=False)
    # POST /oauth/device_authorization per client (public: and address); each stores a row.
    device_authorization_per_client: Window = Window(30, 60)
    # Client ID Metadata Document fetches per client address and per target host (each fetch is
    # an outbound request anyone can cause; draft-ietf-oauth-client-id-metadata-document §6.5).
    client_metadata_fetch_per_ip: Window = Window(20, 60)
    client_metadata_fetch_per_host: Window = Window(60, 60)
    # How long an account that signed in from an address stays exempt from that address's waits.
    known_account_memory: float = 30 * 86400


class Throttle:
    def __init__(self, store: CounterStore, policy: ThrottlePolicy) -> None:
        self.store = store
        self.policy = policy

    async def hit(self, bucket: str, key: str, window: Window) -> None:
        """Count one request; raise TooManyRequestsError past `window.count` in the window."""
        if not self.policy.enabled:
            return
        name = _key(bucket, key)
        if await self.store.incr(name, window.seconds, extend=False) > window.count:
            retry_after = await self.store.blocked_for(name) or window.seconds
            raise TooManyRequestsError(_message(retry_after), retry_after=math.ceil(retry_after))

    async def hit_address(self, bucket: str, ip: str | None, window: Window) -> None:
        """`hit` per address, IPv6 grouped by /64."""
        await self.hit(bucket, address_group(ip), window)

    async def check_delay(self, bucket: str, key: str) -> None:
        """Raise while a wait from earlier failures (or a refusal) is still running."""
        if not self.policy.enabled:
            return
        wait = await self.store.blocked_for(_key(bucket + "-wait", key))
        if wait > 0:
            raise TooManyRequestsError(_message(wait), retry_after=math.ceil(wait))

    async def failed(self, bucket: str, key: str, backoff: Backoff | None = None) -> None:
        """One more failure for `key`; past `backoff.free` each one doubles the wait (capped).
        Without `backoff`, the per-account one."""
        if not self.policy.enabled or not key:
            return
        backoff = backoff or self.policy.login_account
        failures = await self.store.incr(
            _key(bucket + "-fail", key), backoff.memory, extend=backoff.sliding
        )
        excess = failures - backoff.free
        if excess >= 0:
            delay = min(2.0 ** min(excess, 30), backoff.max_delay)
            await self.store.block(_key(bucket + "-wait", key), delay)

    async def count(self, bucket: str, key: str, window: Window) -> bool:
        """Count one event; once there are `window.count` in the window, refuse `key` (see
        `check_delay`) until the window ends. True when this event reached the count."""
        if not self.policy.enabled:
            return False
        name = _key(bucket + "-fail", key)
        if await self.store.incr(name, window.seconds, extend=False) < window.count:
            return False
        left = await self.store.blocked_for(name) or window.seconds
        await self.store.block(_key(bucket + "-wait", key), left)
        return True

    async def first_time(self, bucket: str, key: str, seconds: float) -> bool:
        """True the first time `key` is seen within `seconds` (for counting distinct things)."""
        if not self.policy.enabled:
            return False
        return await self.store.incr(_key(bucket, key), seconds, extend=False) == 1

    async def begin_attempt(self, bucket: str, key: str, backoff: Backoff) -> int:
        """Count an attempt as a failure before it is checked, and from the `free`-th on let it
        go ahead only if it is the one that starts the next wait: requests sent together (from
        a botnet, say) cannot all pass a wait the first of them has not set yet. Success
        forgets it all (`succeeded`) or takes it back (`undo_attempt`); failure needs nothing
        more. Raise TooManyRequestsError while a wait runs; else the attempt's number (0 when
        throttling is off), so a caller can tell when one reached `free`."""
        if not self.policy.enabled:
            return 0
        wait_key, fail_key = _key(bucket + "-wait", key), _key(bucket + "-fail", key)
        if (left := await self.store.blocked_for(wait_key)) > 0:
            raise TooManyRequestsError(_message(left), retry_after=math.ceil(left))
        attempt = await self.store.incr(fail_key, backoff.memory, extend=backoff.sliding)
        excess = attempt - backoff.free
        if excess < 0:
            return attempt
        delay = min(2.0 ** min(excess, 30), backoff.max_delay)
        if not await self.store.acquire(wait_key, delay):  # another attempt got there first
            await self.store.decr(fail_key)
            left = await self.store.blocked_for(wait_key) or 1.0
            raise TooManyRequestsError(_message(left), retry_after=math.ceil(left))
        return attempt

    async def undo_attempt(self, bucket: str, key: str, *, release_wait: bool = False) -> None:
        """Take back an attempt that succeeded. With `release_wait` (the attempt reached
        `free`, so `begin_attempt` started the running wait for it) the wait ends too: a success
        holds nobody up, and the count of failures stays as it was."""
        if self.policy.enabled:
            await self.store.decr(_key(bucket + "-fail", key))
            if release_wait:
                await self.store.delete(_key(bucket + "-wait", key))

    async def remember(self, bucket: str, key: str, seconds: float) -> None:
        """Note that `key` happened, for `seconds` (see `remembers`)."""
        if self.policy.enabled:
            await self.store.block(_key(bucket, key), seconds)

    async def remembers(self, bucket: str, key: str) -> bool:
        return self.policy.enabled and await self.store.blocked_for(_key(bucket, key)) > 0

    async def is_refused(self, bucket: str, key: str) -> bool:
        return self.policy.enabled and await self.store.blocked_for(_key(bucket + "-wait", key)) > 0

    async def succeeded(self, bucket: str, key: str) -> None:
        if self.policy.enabled:
            await self.store.delete(_key(bucket + "-fail", key), _key(bucket + "-wait", key))


def _key(bucket: str, key: str) -> str:
    # Hashed: the store never holds usernames, client ids or addresses in the clear.
    return f"{bucket}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _message(seconds: float) -> str:
    return f"too many attempts, try again in {math.ceil(seconds)} s"


def account_key(username: str) -> str:
    """The per-account key of a sign-in: the username as the users table compares it, so every
    spelling of one account shares its counter, whichever address it comes from."""
    return username.strip().lower()
