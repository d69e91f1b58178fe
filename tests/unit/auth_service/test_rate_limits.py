"""Counters for throttling (the in-memory store) and the policies built on them."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from auth_service.throttling.addresses import address_group
from auth_service.throttling.counters import MemoryCounterStore
from auth_service.throttling.policy import (
    Backoff,
    Throttle,
    ThrottlePolicy,
    Window,
    account_key,
)
from auth_service.throttling.sign_in import SignInAttempt, SignInThrottle
from shared.errors import TooManyRequestsError
from tests.support.throttle_clock import ManualMonotonic


@pytest.fixture
def clock() -> ManualMonotonic:
    return ManualMonotonic(start=0.0)


@pytest.fixture
def store(clock: ManualMonotonic) -> MemoryCounterStore:
    return MemoryCounterStore(clock=clock)


# --- MemoryCounterStore ---


async def test_memory_store_fixed_window_counts_until_ttl_after_first_hit(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    assert await store.incr("k", 10, extend=False) == 1
    clock.advance(9.9)
    assert await store.incr("k", 10, extend=False) == 2  # later hits do not move the window

    clock.advance(0.1)

    assert await store.incr("k", 10, extend=False) == 1


async def test_memory_store_extend_expires_ttl_after_the_last_hit(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    assert await store.incr("k", 10, extend=True) == 1
    clock.advance(8)
    assert await store.incr("k", 10, extend=True) == 2
    clock.advance(8)
    assert await store.incr("k", 10, extend=True) == 3

    clock.advance(10)

    assert await store.incr("k", 10, extend=True) == 1


async def test_memory_store_keys_count_separately(store: MemoryCounterStore) -> None:
    await store.incr("a", 10, extend=False)
    await store.incr("a", 10, extend=False)

    assert await store.incr("b", 10, extend=False) == 1


async def test_memory_store_block_reports_seconds_left_then_zero(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    await store.block("w", 5)
    clock.advance(2)
    assert await store.blocked_for("w") == pytest.approx(3)

    clock.advance(3)

    assert await store.blocked_for("w") == 0.0


async def test_memory_store_blocked_for_unknown_key_is_zero(store: MemoryCounterStore) -> None:
    assert await store.blocked_for("nothing") == 0.0


async def test_memory_store_block_again_replaces_the_wait(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    await store.block("w", 10)
    await store.block("w", 2)

    assert await store.blocked_for("w") == pytest.approx(2)


async def test_memory_store_blocked_for_counter_key_is_its_window_left(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    await store.incr("k", 60, extend=False)
    clock.advance(15)

    assert await store.blocked_for("k") == pytest.approx(45)


async def test_memory_store_delete_forgets_keys_and_ignores_unknown(
    store: MemoryCounterStore,
) -> None:
    await store.incr("a", 10, extend=False)
    await store.block("b", 10)
    await store.incr("c", 10, extend=False)

    await store.delete("a", "b", "never-set")

    assert await store.incr("a", 10, extend=False) == 1
    assert await store.blocked_for("b") == 0.0
    assert await store.incr("c", 10, extend=False) == 2


async def test_memory_store_full_evicts_expired_entries_first(
    store: MemoryCounterStore, clock: ManualMonotonic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MemoryCounterStore, "MAX_KEYS", 3)
    await store.incr("short", 1, extend=False)
    await store.incr("b", 100, extend=False)
    await store.incr("c", 100, extend=False)
    clock.advance(1)

    await store.incr("d", 100, extend=False)

    # The expired entry made room; the live ones are all still counted.
    assert await store.incr("b", 100, extend=False) == 2
    assert await store.incr("c", 100, extend=False) == 2
    assert await store.incr("d", 100, extend=False) == 2


async def test_memory_store_full_of_live_entries_forgets_the_oldest(
    store: MemoryCounterStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MemoryCounterStore, "MAX_KEYS", 3)
    for key in ("a", "b", "c"):
        await store.incr(key, 100, extend=False)

    await store.block("d", 100)

    assert await store.blocked_for("d") == pytest.approx(100)
    # Memory stays bounded: the oldest counter starts again, the others are kept.
    assert await store.incr("b", 100, extend=False) == 2
    assert await store.incr("c", 100, extend=False) == 2
    assert await store.incr("a", 100, extend=False) == 1


async def test_memory_store_aclose_forgets_everything(store: MemoryCounterStore) -> None:
    await store.block("w", 10)

    await store.aclose()

    assert await store.blocked_for("w") == 0.0


# --- Throttle policies ---


def policy(**overrides: object) -> ThrottlePolicy:
    account = Backoff(
        free=int(overrides.pop("failures_before_delay", 3)),  # type: ignore[call-overload]
        max_delay=float(overrides.pop("max_delay", 10)),  # type: ignore[arg-type]
        memory=900,
    )
    values: dict[str, object] = {
        "enabled": True,
        "login_per_ip": Window(100, 60),
        "login_account": account,
        "login_ip": Backoff(free=5, max_delay=10, memory=600, sliding=False),
        "login_ip_usernames": Window(8, 600),
        "device_failures": Window(2, 900),
        "second_factor_login": account,
        "second_factor_account": Backoff(free=6, max_delay=10, memory=900),
        "client_auth": account,
        "token_per_client": Window(2, 60),
        "signup_per_ip": Window(2, 3600),
        "registration_per_ip": Window(2, 3600),
        "authorize_per_ip": Window(2, 60),
        "unknown_clients_per_ip": Window(2, 300),
    }
    values.update(overrides)
    return ThrottlePolicy(**values)  # type: ignore[arg-type]


async def test_throttle_hit_beyond_window_raises_with_window_left_as_retry_after(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    throttle = Throttle(store, policy())
    window = Window(2, 60)
    await throttle.hit("b", "k", window)
    await throttle.hit("b", "k", window)
    clock.advance(20.5)

    with pytest.raises(TooManyRequestsError) as refused:
        await throttle.hit("b", "k", window)

    assert refused.value.retry_after == 40
    assert refused.value.status_code == 429
    assert refused.value.headers()["Retry-After"] == "40"
    assert refused.value.description == "too many attempts, try again in 40 s"


async def wait_of(throttle: Throttle, key: str) -> int:
    """The Retry-After check_delay would answer for `key` now, or 0 when it lets it through."""
    try:
        await throttle.check_delay("login", key)
    except TooManyRequestsError as error:
        return error.retry_after
    return 0


async def test_throttle_failures_double_the_delay_up_to_the_cap(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    throttle = Throttle(store, policy(max_delay=10))
    waits = []
    for _ in range(8):
        await throttle.failed("login", "k")
        waits.append(await wait_of(throttle, "k"))

    assert waits == [0, 0, 1, 2, 4, 8, 10, 10]


async def test_throttle_check_delay_raises_while_waiting_then_passes(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    throttle = Throttle(store, policy(failures_before_delay=1))
    await throttle.failed("login", "k")

    with pytest.raises(TooManyRequestsError) as refused:
        await throttle.check_delay("login", "k")
    assert refused.value.retry_after == 1
    await throttle.check_delay("login", "other")  # another key is not slowed

    clock.advance(1)
    await throttle.check_delay("login", "k")


async def test_throttle_success_clears_failures_and_wait(store: MemoryCounterStore) -> None:
    throttle = Throttle(store, policy(failures_before_delay=1))
    await throttle.failed("login", "k")

    await throttle.succeeded("login", "k")

    await throttle.check_delay("login", "k")
    await throttle.failed("login", "k")
    with pytest.raises(TooManyRequestsError) as refused:
        await throttle.check_delay("login", "k")
    assert refused.value.retry_after == 1  # the count started again


class RecordingStore(MemoryCounterStore):
    """Remembers every key it was asked to count or block."""

    def __init__(self) -> None:
        super().__init__(clock=ManualMonotonic())
        self.keys: list[str] = []

    async def incr(self, key: str, ttl: float, *, extend: bool) -> int:
        self.keys.append(key)
        return await super().incr(key, ttl, extend=extend)

    async def block(self, key: str, seconds: float) -> None:
        self.keys.append(key)
        await super().block(key, seconds)


async def test_throttle_disabled_never_raises_nor_counts() -> None:
    store = RecordingStore()
    throttle = Throttle(store, policy(enabled=False, failures_before_delay=1))
    for _ in range(5):
        await throttle.hit("b", "k", Window(1, 60))
        await throttle.failed("login", "k")
        await throttle.check_delay("login", "k")

    assert store.keys == []


async def test_throttle_store_keys_hold_no_username_or_address() -> None:
    store = RecordingStore()
    throttle = Throttle(store, policy(failures_before_delay=1))
    sign_in = SignInThrottle(throttle)
    attempt = SignInAttempt.of("ada", "10.0.0.1")

    await sign_in.check(attempt)
    await sign_in.failed(attempt)

    assert len(store.keys) == 5
    for name in store.keys:
        assert re.fullmatch(r"[a-z-]+:[0-9a-f]{32}", name), name
        assert "ada" not in name and "10.0.0.1" not in name


def test_account_key_ignores_case_and_spaces_of_the_username() -> None:
    assert account_key(" Ada ") == account_key("ADA") == "ada"
    assert SignInAttempt.of(" Ada ", "10.0.0.1") == SignInAttempt.of("ada", "10.0.0.1")
    assert SignInAttempt.of("ada", "10.0.0.1") != SignInAttempt.of("ada", "10.0.0.2")


# --- Addresses: IPv6 counted by /64 ---


@pytest.mark.parametrize(
    ("ip", "group"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::FFFF", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (None, "-"),
        ("", "-"),
        ("[2001:db8:1:2::1]", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::1]:50123", "2001:db8:1:2::/64"),
        ("203.0.113.7:50123", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        # Not an address: one shared bucket, so varying the text gives no fresh counter.
        ("not-an-address", "?"),
        ("203.0.113.7:1:2", "?"),
        ("[bad]:1", "?"),
    ],
)
def test_address_group_keeps_ipv4_and_groups_ipv6_by_64(ip: str | None, group: str) -> None:
    assert address_group(ip) == group


def test_address_group_tells_neighbouring_ipv6_networks_apart() -> None:
    assert address_group("2001:db8:1:2::1") != address_group("2001:db8:1:3::1")


# --- Turns, refusals after a count ---


async def test_memory_store_acquire_is_exclusive_until_it_expires_or_is_deleted(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    assert await store.acquire("t", 10) is True
    assert await store.acquire("t", 10) is False
    clock.advance(10)
    assert await store.acquire("t", 10) is True
    await store.delete("t")
    assert await store.acquire("t", 10) is True


async def test_memory_store_decr_takes_one_back_and_leaves_missing_keys_missing(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    await store.incr("k", 10, extend=False)
    await store.incr("k", 10, extend=False)

    await store.decr("k")
    await store.decr("gone")

    assert await store.incr("k", 10, extend=False) == 2
    assert await store.blocked_for("gone") == 0.0


BACKOFF = Backoff(free=3, max_delay=10, memory=900)


async def attempts(throttle: Throttle, key: str = "k") -> str:
    """'ok' when begin_attempt lets an attempt through now, else its Retry-After."""
    try:
        await throttle.begin_attempt("login", key, BACKOFF)
    except TooManyRequestsError as error:
        return str(error.retry_after)
    return "ok"


async def test_throttle_begin_attempt_lets_free_attempts_then_one_per_doubling_wait(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    throttle = Throttle(store, policy())
    seen = [await attempts(throttle) for _ in range(4)]
    for wait in (1, 2, 4, 8, 10, 10):
        clock.advance(wait)
        seen += [await attempts(throttle), await attempts(throttle)]

    assert seen == ["ok", "ok", "ok", "1"] + [
        "ok", "2", "ok", "4", "ok", "8", "ok", "10", "ok", "10", "ok", "10"
    ]  # fmt: skip


async def test_throttle_begin_attempt_refused_does_not_count_and_success_forgets(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    throttle = Throttle(store, policy())
    assert [await attempts(throttle) for _ in range(3)] == ["ok", "ok", "ok"]
    assert [await attempts(throttle) for _ in range(5)] == ["1"] * 5
    clock.advance(1)
    assert await attempts(throttle) == "ok"  # the 4th attempt: refusals did not count
    assert await attempts(throttle) == "2"

    await throttle.succeeded("login", "k")

    assert [await attempts(throttle) for _ in range(3)] == ["ok", "ok", "ok"]


async def test_throttle_begin_attempt_racing_for_the_same_wait_lets_one_through(
    store: MemoryCounterStore,
) -> None:
    """Attempts sent together: all pass the wait check before any sets it; one gets it."""
    throttle = Throttle(store, policy())
    for _ in range(2):
        await attempts(throttle)
    checks = store.blocked_for
    gate = asyncio.Event()

    async def slow_check(key: str) -> float:
        left = await checks(key)
        await gate.wait()  # every attempt has looked before any went on
        return left

    store.blocked_for = slow_check  # type: ignore[method-assign]
    racing = [asyncio.create_task(attempts(throttle)) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    answers = await asyncio.gather(*racing)
    store.blocked_for = checks  # type: ignore[method-assign]

    assert sorted(answers) == ["1"] * 9 + ["ok"]
    clock_left = await store.blocked_for("login-wait:" + _digest("k"))
    assert clock_left == pytest.approx(1)


async def test_throttle_count_refuses_the_key_once_the_count_is_reached_until_the_window_ends(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    throttle = Throttle(store, policy())
    window = Window(3, 100)
    assert [await throttle.count("b", "k", window) for _ in range(2)] == [False, False]
    assert await throttle.is_refused("b", "k") is False
    clock.advance(40)

    assert await throttle.count("b", "k", window) is True

    assert await throttle.is_refused("b", "k") is True
    with pytest.raises(TooManyRequestsError) as refused:
        await throttle.check_delay("b", "k")
    assert refused.value.retry_after == 60  # what is left of the window
    clock.advance(60)
    assert await throttle.is_refused("b", "k") is False


async def test_sign_in_failures_from_one_address_slow_it_then_distinct_usernames_refuse_it(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    sign_in = SignInThrottle(Throttle(store, policy()))
    for n in range(5):  # login_ip: 5 free failures
        await sign_in.check(SignInAttempt.of(f"user{n}", "10.0.0.1"))
        await sign_in.failed(SignInAttempt.of(f"user{n}", "10.0.0.1"))

    with pytest.raises(TooManyRequestsError) as slowed:
        await sign_in.check(SignInAttempt.of("user5", "10.0.0.1"))
    assert slowed.value.retry_after == 1
    await sign_in.check(SignInAttempt.of("user5", "10.0.0.2"))  # another address is not
    await sign_in.succeeded(SignInAttempt.of("user5", "10.0.0.2"))
    for n in range(5, 8):  # login_ip_usernames: refused at the 8th distinct username
        clock.advance(10)
        await sign_in.check(SignInAttempt.of(f"user{n}", "10.0.0.1"))
        await sign_in.failed(SignInAttempt.of(f"user{n}", "10.0.0.1"))

    clock.advance(10)
    with pytest.raises(TooManyRequestsError) as refused:
        await sign_in.check(SignInAttempt.of("user9", "10.0.0.1"))
    assert refused.value.retry_after > 500  # the rest of the 600 s window, not a short wait


async def test_sign_in_same_username_failing_again_is_not_a_new_distinct_username(
    store: MemoryCounterStore, clock: ManualMonotonic
) -> None:
    throttle = Throttle(store, policy(login_ip=Backoff(free=100, max_delay=10, memory=600)))
    sign_in = SignInThrottle(throttle)
    for _ in range(20):
        clock.advance(20)
        attempt = SignInAttempt.of("ada", "10.0.0.1")
        await sign_in.failed(attempt)

    assert await throttle.is_refused("login-ip-users", "10.0.0.1") is False


async def test_sign_in_device_failures_lock_the_device_out_not_the_account(
    store: MemoryCounterStore,
) -> None:
    sign_in = SignInThrottle(Throttle(store, policy()))
    known = SignInAttempt.of("ada", "10.0.0.1", device="d1")
    await sign_in.failed(known)
    assert await sign_in.trusted_device("d1") == "d1"

    await sign_in.failed(known)

    assert await sign_in.trusted_device("d1") is None
    assert await sign_in.trusted_device("d2") == "d2"
    await sign_in.check(SignInAttempt.of("ada", "10.0.0.1"))  # the account itself is not slowed


async def test_sign_in_success_with_a_device_keeps_the_account_delay(
    store: MemoryCounterStore,
) -> None:
    sign_in = SignInThrottle(Throttle(store, policy(failures_before_delay=1)))
    attacker = SignInAttempt.of("ada", "10.0.0.9")
    await sign_in.check(attacker)
    await sign_in.failed(attacker)

    await sign_in.check(SignInAttempt.of("ada", "10.0.0.1", device="d1"))
    await sign_in.succeeded(SignInAttempt.of("ada", "10.0.0.1", device="d1"))

    with pytest.raises(TooManyRequestsError):
        await sign_in.check(SignInAttempt.of("ada", "10.0.0.8"))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]
