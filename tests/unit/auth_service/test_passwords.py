"""argon2id hashing (passlib/libpass), run off the event loop."""

from __future__ import annotations

from auth_service.security.passwords import PasswordHasher

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
