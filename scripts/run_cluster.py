"""`make run-cluster`: 2 auth + 2 resource instances on PostgreSQL and Redis, in the foreground.

The database (`myauth_cluster` unless DATABASE_URL names another) is created if missing and
migrated; Ctrl-C (or any instance dying) stops all four.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auth_service.operations import migrations  # noqa: E402
from chaos.cluster import (  # noqa: E402
    POOL_ENV,
    ROOT,
    Topology,
    build_cluster,
)
from devtools.scratch_databases import create_database, database_exists  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/myauth_cluster"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def say(message: str) -> None:
    print(message, flush=True)  # noqa: T201 - a launcher talks to its terminal


def banner(topology: Topology, database_url: str, redis_url: str) -> None:
    say("")
    say("MyAuthProvider cluster is running:")
    for n, (auth, resource) in enumerate(
        zip(topology.auth_ports, topology.resource_ports, strict=True), start=1
    ):
        say(f"  auth-{n}      {topology.url(auth)}")
        say(f"  resource-{n}  {topology.url(resource)}   (keys and revocations from auth-{n})")
    say(f"  issuer      {topology.issuer}   (every auth instance)")
    say(f"  database    {database_url.split('@')[-1]}")
    say(f"  redis       {redis_url}")
    pools = ", ".join(f"{k}={v}" for k, v in POOL_ENV.items())
    say(f"  pools       {pools}")
    say("Press Ctrl-C to stop.")
    say("")


def main() -> int:
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    if not database_url.startswith("postgresql"):
        say("run-cluster needs PostgreSQL: set DATABASE_URL=postgresql+asyncpg://…")
        return 2
    if not asyncio.run(database_exists(database_url)):
        create_database(database_url)
        say(f"created database {database_url.rsplit('/', 1)[-1]}")
    migrations.upgrade(database_url)
    topology = Topology()
    # Pool settings already in the environment win over the cluster's defaults.
    overrides = {k: v for k, v in os.environ.items() if k in POOL_ENV}
    cluster = build_cluster(
        topology,
        database_url=database_url,
        redis_url=redis_url,
        key_dir=Path(os.environ.get("AUTH_KEY_DIR") or ROOT / "var" / "cluster-keys"),
        extra_env=overrides,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    try:
        cluster.start()
        banner(topology, database_url, redis_url)
        while not stopping:
            for instance in cluster.instances.values():
                if not instance.running:
                    say(f"{instance.name} exited; stopping the cluster")
                    exit_code, stopping = 1, True
            time.sleep(0.2)
    except RuntimeError as exc:
        say(f"cluster failed to start: {exc}")
        exit_code = 1
    finally:
        cluster.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
