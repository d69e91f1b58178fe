"""External services some tests need: used when present, skipped locally, a failure in CI."""

from __future__ import annotations

import pytest
import redis

from tests.support.databases import IN_CI

# Database 15 is the tests' own; note that Pub/Sub channels are shared by every database.
REDIS_URL = "redis://127.0.0.1:6379/15"


def require_redis(url: str = REDIS_URL) -> str:
    """Return `url` if Redis answers PING there; otherwise fail when CI=true, else skip."""
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        message = f"Redis at {url} does not answer ({type(exc).__name__})"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    finally:
        client.close()
    return url
