"""Rotation with a key per algorithm (RFC 7517 §4.4): every held algorithm's key is replaced on the
same schedule, one algorithm's rotation leaves the others alone, and keys of an algorithm no
longer held retire with the next rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.operations.key_lifecycle import (
    MAX_TOKEN_LIFETIME,
    RETIREMENT_MARGIN,
    algs_due,
    rotate_signing_keys,
)
from auth_service.operations.maintenance import Maintenance
from auth_service.repositories import Repositories
from shared.models import SigningKey
from shared.tokens import SIGNATURE_ALGORITHMS
from tests.support.clock import TestClock
from tests.support.db import Database

ACTIVATION_DELAY = 120
SECOND = timedelta(seconds=1)


@pytest.fixture
def key_rotation_interval() -> int:
    return 0


@pytest.fixture
def settings(settings: AuthSettings, key_rotation_interval: int) -> AuthSettings:
    values = settings.model_dump()
    values.update(
        jwks_max_age=60,
        key_activation_delay=ACTIVATION_DELAY,
        key_rotation_interval=key_rotation_interval,
    )
    return AuthSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def maintenance(auth_app: FastAPI) -> Maintenance:
    found: Maintenance = auth_app.state.maintenance
    return found


async def rotate(
    maintenance: Maintenance, algs: tuple[str, ...], held: tuple[str, ...]
) -> list[SigningKey]:
    """What `auth-service keys rotate [--alg ALG]` does, in one committed unit of work."""
    async with maintenance.sessionmaker() as session:
        keys = await rotate_signing_keys(
            Repositories.over(session),
            maintenance.settings.key_dir,
            algs=algs,
            held=held,
            clock=maintenance.clock,
            activation_delay=ACTIVATION_DELAY,
        )
        await session.commit()
    return keys


async def published(auth: httpx.AsyncClient) -> dict[str, str]:
    """kid -> alg of the JWKS."""
    return {k["kid"]: k["alg"] for k in (await auth.get("/.well-known/jwks.json")).json()["keys"]}


def signer_kids(maintenance: Maintenance, now: datetime) -> dict[str, str]:
    key_set = maintenance.key_store.current()
    return {alg: key_set.signing_key(now, alg).kid for alg in SIGNATURE_ALGORITHMS}


async def test_rotate_every_algorithm_replaces_each_key_with_one_of_its_own_alg(
    db: Database,
    auth_client: httpx.AsyncClient,
    clock: TestClock,
    maintenance: Maintenance,
    signing_keys: dict[str, SigningKey],
) -> None:
    new = await rotate(maintenance, SIGNATURE_ALGORITHMS, SIGNATURE_ALGORITHMS)
    await maintenance.reload_keys()

    assert [k.alg for k in new] == list(SIGNATURE_ALGORITHMS)
    new_by_alg = {k.alg: k for k in new}
    for alg, old in signing_keys.items():
        row = await db.get(SigningKey, old.kid)
        assert row is not None
        assert (
            row.retires_at == new_by_alg[alg].activates_at + MAX_TOKEN_LIFETIME + RETIREMENT_MARGIN
        )
    assert sorted((await published(auth_client)).values()) == sorted(SIGNATURE_ALGORITHMS * 2)
    assert signer_kids(maintenance, clock()) == {a: k.kid for a, k in signing_keys.items()}

    clock.advance(ACTIVATION_DELAY + 1)
    assert signer_kids(maintenance, clock()) == {a: k.kid for a, k in new_by_alg.items()}

    clock.advance((MAX_TOKEN_LIFETIME + RETIREMENT_MARGIN).total_seconds())
    assert await published(auth_client) == {k.kid: k.alg for k in new}


async def test_rotate_one_algorithm_leaves_the_other_keys_alone(
    db: Database,
    auth_client: httpx.AsyncClient,
    maintenance: Maintenance,
    signing_keys: dict[str, SigningKey],
) -> None:
    (new,) = await rotate(maintenance, ("ES256",), SIGNATURE_ALGORITHMS)

    assert new.alg == "ES256"
    for alg, old in signing_keys.items():
        row = await db.get(SigningKey, old.kid)
        assert row is not None
        assert (row.retires_at is not None) == (alg == "ES256"), alg
    assert await db.count(SigningKey) == 5


async def test_rotate_retires_keys_of_an_algorithm_no_longer_held(
    db: Database, maintenance: Maintenance, signing_keys: dict[str, SigningKey]
) -> None:
    # AUTH_SIGNING_ALGS went from all four to RS256,ES256: PS256 and EdDSA keys sign no more.
    new = await rotate(maintenance, ("RS256", "ES256"), ("RS256", "ES256"))

    assert [k.alg for k in new] == ["RS256", "ES256"]
    for old in signing_keys.values():
        row = await db.get(SigningKey, old.kid)
        assert row is not None and row.retires_at is not None, row
    assert await db.count(SigningKey, SigningKey.retires_at == None) == 2  # noqa: E711


@pytest.mark.parametrize("key_rotation_interval", [86400])
async def test_rotate_if_due_rotates_every_algorithm_at_once_and_then_waits(
    db: Database, maintenance: Maintenance, signing_keys: dict[str, SigningKey], clock: TestClock
) -> None:
    assert await maintenance.rotate_if_due() is True

    fresh = await db.all(SigningKey, SigningKey.retires_at == None)  # noqa: E711
    assert sorted(k.alg for k in fresh) == sorted(SIGNATURE_ALGORITHMS)
    assert {k.kid for k in fresh}.isdisjoint(k.kid for k in signing_keys.values())
    assert await maintenance.rotate_if_due() is False
    assert await db.count(SigningKey) == 8


NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _key(alg: str, created_at: datetime) -> SigningKey:
    return SigningKey(
        kid=f"{alg}-{created_at.timestamp()}",
        alg=alg,
        public_jwk={},
        created_at=created_at,
        activates_at=created_at,
    )


def test_algs_due_lists_held_algorithms_whose_newest_key_is_old_or_missing() -> None:
    cutoff = NOW - timedelta(days=1)
    keys = [
        _key("RS256", NOW - timedelta(days=3)),
        _key("RS256", NOW - timedelta(hours=1)),  # rotated recently: not due
        _key("ES256", NOW - timedelta(days=2)),
        _key("HS256", NOW - timedelta(days=9)),  # not held: never rotated, only retired
    ]

    assert algs_due(keys, ("RS256", "PS256", "ES256"), cutoff) == ["PS256", "ES256"]
    assert algs_due(keys, ("RS256",), cutoff) == []
