"""argon2id hashing (passlib/libpass), run off the event loop in a small limiter of its own."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from auth_service.security.passwords import (
    MAX_PASSWORD_LENGTH,
    PasswordHasher,
    PasswordTooLongError,
)
from shared.errors import TemporarilyUnavailableError

HASHER = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1)


async def test_passwords_hash_is_argon2id_and_verifies() -> None:
    hashed = await HASHER.hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert (await HASHER.verify("correct horse battery", hashed)).ok
    assert not (await HASHER.verify("wrong horse battery", hashed)).ok


async def test_passwords_outdated_parameters_ask_for_rehash() -> None:
    weak = await PasswordHasher(time_cost=1, memory_kib=32, parallelism=1).hash("pw-123456789")
    check = await HASHER.verify("pw-123456789", weak)
    assert check.ok and check.new_hash is not None and "m=64" in check.new_hash


async def test_passwords_unknown_user_costs_a_real_verification() -> None:
    # security.md: an unknown username still costs one password verification.
    hasher = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1)
    calls: list[str] = []
    verify = hasher._context.verify

    def counting_verify(secret: str, hashed: str) -> bool:
        calls.append(hashed)
        return bool(verify(secret, hashed))

    hasher._context.verify = counting_verify  # type: ignore[method-assign]
    await hasher.dummy_verify("guess")
    await hasher.dummy_verify("guess again")
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)


async def test_passwords_longer_than_the_limit_are_refused_before_any_hashing() -> None:
    hasher = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1)
    hashed = await hasher.hash("x" * MAX_PASSWORD_LENGTH)  # the longest allowed still works
    assert (await hasher.verify("x" * MAX_PASSWORD_LENGTH, hashed)).ok
    too_long = "x" * (MAX_PASSWORD_LENGTH + 1)
    for call in (hasher.hash(too_long), hasher.verify(too_long, hashed)):
        with pytest.raises(PasswordTooLongError):
            await call


async def test_passwords_hashing_beyond_the_queue_is_refused_with_503_and_retry_after() -> None:
    """At most `concurrency` hashes run and `max_waiting` wait; the next is shed at once."""
    hasher = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1, concurrency=1, max_waiting=1)
    results: list[str] = []

    async def hash_one() -> None:
        results.append(await hasher.hash("correct horse battery"))

    async with anyio.create_task_group() as tasks:
        async with hasher.limiter:  # the one running hash
            tasks.start_soon(hash_one)
            for _ in range(100):  # let the task reach the limiter's queue
                await anyio.lowlevel.checkpoint()
            assert hasher.limiter.statistics().tasks_waiting == 1
            with pytest.raises(TemporarilyUnavailableError) as refused:
                await hasher.verify("correct horse battery", "$argon2id$not-reached")
            assert (refused.value.status_code, refused.value.error) == (
                503,
                "temporarily_unavailable",
            )
            assert refused.value.headers()["Retry-After"] == "2"
            assert results == []
    # The queued one ran once the limiter had room.
    assert len(results) == 1 and results[0].startswith("$argon2id$")


async def test_passwords_hasher_defaults_to_two_at_once() -> None:
    assert HASHER.limiter.total_tokens == 2
