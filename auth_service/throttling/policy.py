"""Throttling policies against brute force and abuse, on top of a CounterStore.

Two shapes: a fixed window per key (requests per IP, per client), and a growing delay after
repeated failures (login per account and IP, second factor per account, client authentication
per client and IP). A delay always ends, so an attacker can slow a victim but never lock them
out; keying login delays by account *and* IP means a script hammering from one place does not
slow the real user logging in from another.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from auth_service.throttling.counters import CounterStore
from shared.errors import TooManyRequestsError


@dataclass(frozen=True, slots=True)
class Window:
    count: int
    seconds: float


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    enabled: bool
    login_per_ip: Window
    token_per_client: Window
    signup_per_ip: Window
    registration_per_ip: Window
    authorize_per_ip: Window
    unknown_clients_per_ip: Window
    failures_before_delay: int
    max_delay: float
    failure_memory: float  # seconds after the last failure before the count starts again
    revocation_feed_per_ip: Window = Window(6000, 60)  # GET /oauth/revocations


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

    async def check_delay(self, bucket: str, key: str) -> None:
        """Raise while a growing delay from earlier failures is still running."""
        if not self.policy.enabled:
            return
        wait = await self.store.blocked_for(_key(bucket + "-wait", key))
        if wait > 0:
            raise TooManyRequestsError(_message(wait), retry_after=math.ceil(wait))

    async def failed(self, bucket: str, key: str) -> None:
        """After `failures_before_delay` failures, each one doubles the wait (capped)."""
        if not self.policy.enabled or not key:
            return
        failures = await self.store.incr(
            _key(bucket + "-fail", key), self.policy.failure_memory, extend=True
        )
        excess = failures - self.policy.failures_before_delay
        if excess >= 0:
            delay = min(2.0 ** min(excess, 30), self.policy.max_delay)
            await self.store.block(_key(bucket + "-wait", key), delay)

    async def succeeded(self, bucket: str, key: str) -> None:
        if self.policy.enabled:
            await self.store.delete(_key(bucket + "-fail", key), _key(bucket + "-wait", key))


def _key(bucket: str, key: str) -> str:
    # Hashed: the store never holds usernames, client ids or addresses in the clear.
    return f"{bucket}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _message(seconds: float) -> str:
    return f"too many attempts, try again in {math.ceil(seconds)} s"


def login_key(username: str, ip: str | None) -> str:
    return f"{username.strip().lower()}|{ip or '-'}"
