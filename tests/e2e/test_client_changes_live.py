"""`auth-service clients rotate-secret` in its own process, two running instances: both refuse the
old secret within the feed's propagation time, at once with Redis (issue 13, part 6).

Real uvicorn processes on one database, client caches of an hour: nothing but the change notice
the CLI commits (and, with Redis, announces) can make an instance forget the old secret.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from shared.revocations import revocation_channel
from tests.support.databases import fresh_database
from tests.support.live import LiveService, LiveStack, free_port, live_stack
from tests.support.services import require_redis

pytestmark = pytest.mark.e2e
DEADLINE = 5.0  # many sync intervals, even on a loaded machine
BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        yield live


def token(service: LiveService, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read:notes"},
        auth=(client_id, secret),
        timeout=5,
    )


def refused_soon(service: LiveService, client_id: str, secret: str) -> httpx.Response:
    deadline = time.monotonic() + DEADLINE
    while (response := token(service, client_id, secret)).status_code == 200:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return response


def wait_for_subscribers(channel: str, count: int) -> None:
    client = redis.Redis.from_url(require_redis())
    try:
        for _ in range(200):
            if dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= count:
                return
            time.sleep(0.05)
    finally:
        client.close()
    raise AssertionError(f"fewer than {count} instances subscribed to {channel}")


@pytest.mark.parametrize("with_redis", [False, True], ids=["feed", "redis"])
def test_cli_rotate_secret_is_refused_by_every_running_instance(
    stack: LiveStack, with_redis: bool
) -> None:
    env = {"AUTH_CLIENT_CACHE_TTL": "3600", "AUTH_REVOCATION_SYNC_INTERVAL": "0.2"}
    if with_redis:
        # Polls a minute apart: within the deadline only the announcement can tell them.
        env |= {"AUTH_REDIS_URL": require_redis(), "AUTH_REVOCATION_SYNC_INTERVAL": "60"}
    instances = [
        stack.start_auth(**env),
        stack.start("auth-2", "auth_service.main:create_app", free_port(), **env),
    ]
    if with_redis:
        wait_for_subscribers(revocation_channel(stack.issuer), len(instances))
    created = stack.cli(
        "clients", "create", "--name", "Machine", "--scope", "read:notes",
        "--grant-type", "client_credentials", **env,
    )  # fmt: skip
    client_id, old_secret = created["client_id"], created["client_secret"]
    for instance in instances:  # each now holds the client in memory
        assert token(instance, client_id, old_secret).status_code == 200

    rotated = stack.cli("clients", "rotate-secret", client_id, **env)

    for instance in instances:
        refused = refused_soon(instance, client_id, old_secret)
        assert refused.status_code == 401, (instance.name, refused.text)
        assert refused.json() == {
            "error": "invalid_client",
            "error_description": "client authentication failed",
        }
        assert refused.headers["www-authenticate"] == BASIC_CHALLENGE
        accepted = token(instance, client_id, rotated["client_secret"])
        assert accepted.status_code == 200, accepted.text
        assert accepted.headers["cache-control"] == "no-store"
