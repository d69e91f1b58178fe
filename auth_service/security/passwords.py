"""Password hashing with argon2id (passlib), off the event loop in a small limiter of its own.

Each hash takes `memory_kib` of memory and most of a core. FastAPI's default thread pool runs 40
at once, so a burst of logins could take gigabytes and every core; here at most `concurrency`
run, a few more wait, and the rest are refused at once with 503 and Retry-After (OWASP Password
Storage Cheat Sheet: argon2id cost is a denial-of-service surface; RFC 9110 section 15.6.4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from anyio import CapacityLimiter, to_thread
from passlib.context import CryptContext

from shared.errors import TemporarilyUnavailableError
from shared.models.users import NO_PASSWORD

# The longest password anyone may set or send; longer input is refused before any hashing, so
# the work of a check is bounded and no password is ever silently cut.
MAX_PASSWORD_LENGTH = 1024
# When the limiter's queue is full: a short wait is enough for the running hashes to finish.
BUSY_RETRY_AFTER = 2

T = TypeVar("T")


class PasswordTooLongError(ValueError):
    """A password longer than MAX_PASSWORD_LENGTH reached the hasher; callers refuse it first."""


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    new_hash: str | None  # set when the stored hash uses outdated parameters


class PasswordHasher:
    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        concurrency: int = 2,
        max_waiting: int = 16,
    ) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__rounds=time_cost,
            argon2__memory_cost=memory_kib,
            argon2__parallelism=parallelism,
        )
        # Hashes running at once (each in a worker thread); public so a test can hold it.
        self.limiter = CapacityLimiter(concurrency)
        self._max_waiting = max_waiting
        # Verified against when the username is unknown, so timing does not reveal which exist.
        # Made on first use: hashing costs the full argon2 memory, which a process that never
        # sees a login (a worker serving tokens) should not pay at start-up.
        self._dummy_hash: str | None = None

    async def _run(self, work: Callable[..., T], password: str, *args: str) -> T:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise PasswordTooLongError("password is longer than MAX_PASSWORD_LENGTH")
        limiter = self.limiter
        if limiter.available_tokens < 1 and limiter.statistics().tasks_waiting >= self._max_waiting:
            raise TemporarilyUnavailableError(
                "too many sign-ins at once, try again shortly", retry_after=BUSY_RETRY_AFTER
            )
        return await to_thread.run_sync(work, password, *args, limiter=limiter)

    async def hash(self, password: str) -> str:
        result: str = await self._run(self._context.hash, password)
        return result

    async def verify(self, password: str, password_hash: str) -> PasswordCheck:
        if password_hash == NO_PASSWORD:  # an account without a password: the same work, no match
            await self.dummy_verify(password)
            return PasswordCheck(False, None)
        ok, new_hash = await self._run(self._context.verify_and_update, password, password_hash)
        return PasswordCheck(bool(ok), new_hash)

    async def dummy_verify(self, password: str) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("not-a-real-password")
        await self._run(self._context.verify, password, self._dummy_hash)
