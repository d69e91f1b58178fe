"""External services some tests need: used when present, skipped locally, a failure in CI."""

from __future__ import annotations

import shutil

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


def require_tool(name: str, package: str) -> str:
    """The path of command `name` (from Debian's `package`); otherwise fail when CI=true (as
    .ci/run installs it), else skip."""
    path = shutil.which(name)
    if path is None:
        message = f"needs {name} (apt-get install {package}; .ci/run does)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path
