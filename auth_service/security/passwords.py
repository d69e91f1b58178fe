"""Password hashing with argon2id (passlib), off the event loop; unknown users cost the same."""

from __future__ import annotations

from dataclasses import dataclass

from anyio import to_thread
from passlib.context import CryptContext

# The longest password anyone may set; longer input is cut to this before hashing, so the work of
# a check is bounded (such a password never matches one that was set).
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    new_hash: str | None  # set when the stored hash uses outdated parameters


class PasswordHasher:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__rounds=time_cost,
            argon2__memory_cost=memory_kib,
            argon2__parallelism=parallelism,
        )
        # Verified against when the username is unknown, so timing does not reveal which exist.
        # Made on first use: hashing costs the full argon2 memory, which a process that never
        # sees a login (a worker serving tokens) should not pay at start-up.
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        result: str = await to_thread.run_sync(self._context.hash, password)
        return result

    async def verify(self, password: str, password_hash: str) -> PasswordCheck:
        ok, new_hash = await to_thread.run_sync(
            self._context.verify_and_update, password, password_hash
        )
        return PasswordCheck(bool(ok), new_hash)

    async def dummy_verify(self, password: str) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("not-a-real-password")
        await to_thread.run_sync(self._context.verify, password, self._dummy_hash)
