"""Set up a run (fresh database, 2 + 2 cluster, seeded users and clients), play the scenarios,
report, and take everything down again, PostgreSQL always running at the end."""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import redis
import uvloop
from sqlalchemy.engine import make_url

from auth_service.operations import migrations
from chaos import report
from chaos.api import Api, new_client
from chaos.cluster import ROOT, Cluster, Topology, build_cluster
from chaos.context import Context, Result
from chaos.faults import PostgresControl, default_pg_ctl
from chaos.ledger import Ledger
from chaos.scenarios import auth_down, baseline, kills, postgres, rotation, storm
from chaos.seed import HASH_COST, seed
from chaos.workload import Forger, Workload
from devtools.scratch_databases import scratch_database

USERS = 20
# The suite's cluster: short key and cache lifetimes so rotation and cache expiry happen within
# a run. The rate limits are the defaults: fifty clients behind one loopback address are an
# office behind one address, which the limits must let through (issue 13).
CHAOS_ENV = {
    "LOG_FORMAT": "json",
    "AUTH_PASSWORD_TIME_COST": str(HASH_COST["time_cost"]),
    "AUTH_PASSWORD_MEMORY_KIB": str(HASH_COST["memory_kib"]),
    "AUTH_PASSWORD_PARALLELISM": str(HASH_COST["parallelism"]),
    "AUTH_JWKS_MAX_AGE": "10",
    "AUTH_KEY_ACTIVATION_DELAY": "11",  # AUTH_JWKS_MAX_AGE + AUTH_KEY_RELOAD_INTERVAL
    "AUTH_KEY_RELOAD_INTERVAL": "1",
    "AUTH_MAINTENANCE_INTERVAL": "5",
}

Scenario = Callable[[Context], Awaitable[Result]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def scenarios(options: argparse.Namespace) -> list[tuple[int, Scenario]]:
    seconds = options.baseline_seconds or (20.0 if options.ci else 60.0)
    chosen: list[tuple[int, Scenario]] = [
        (1, lambda ctx: baseline.run(ctx, seconds)),
        (2, postgres.run),
        (3, kills.run),
        (4, auth_down.run),
        (5, rotation.run),
        (6, storm.run),
    ]
    wanted = set(options.scenario or ([1, 2, 6] if options.ci else range(1, 7)))
    return [(n, s) for n, s in chosen if n in wanted]


async def play(options: argparse.Namespace, cluster: Cluster, database_url: str,
               pg: PostgresControl, workdir: Path, ledger: Ledger) -> list[Result]:  # fmt: skip
    seeded = await seed(database_url, USERS)
    rng = random.Random(options.seed)  # noqa: S311 - traffic, not secrets
    issuer = cluster.auth[0].env["AUTH_ISSUER"]
    async with new_client() as http:
        api = Api(ledger, http, cluster.auth, cluster.resource, seeded.client, issuer, rng)
        forger = Forger(issuer, cluster.auth[0].env["AUTH_RESOURCE_AUDIENCE"])
        workload = Workload(api, seeded.users, rng, forger)
        ctx = Context(cluster, api, workload, ledger, seeded.users, seeded.probe, database_url,
                      pg, workdir, options.ci, seeded.usernames)  # fmt: skip
        results = []
        try:
            for number, scenario in scenarios(options):
                say(f"scenario {number} …")
                began = time.time()
                try:
                    result = await scenario(ctx)
                except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the rest
                    result = Result(number, f"scenario {number} did not complete")
                    result.seconds = time.time() - began
                    result.check("completed", False, f"{type(exc).__name__}: {exc}")
                    traceback.print_exc()
                print(report.scenario_text(result), flush=True)  # noqa: T201 - the report
                results.append(result)
        finally:
            await workload.aclose()
    return results


def clear_redis(url: str) -> None:
    """Empty the suite's own Redis database: rate-limit counters an earlier run left for
    127.0.0.1 (every request here comes from it) would otherwise refuse this run's requests."""
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def run(options: argparse.Namespace) -> int:
    started = time.time()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    workdir = ROOT / "var" / "chaos" / f"run-{stamp}"
    workdir.mkdir(parents=True)
    pg = PostgresControl(options.pg_ctl or default_pg_ctl(), workdir / "postgres-control.log")
    ledger = Ledger()
    results: list[Result] = []
    topology = Topology(
        auth_ports=(free_port(), free_port()), resource_ports=(free_port(), free_port())
    )
    if options.redis_url:
        clear_redis(options.redis_url)
    try:
        with scratch_database(options.pg_url, "myauth_chaos", keep=options.keep_database) as url:
            migrations.upgrade(url)
            cluster = build_cluster(topology, database_url=url, redis_url=options.redis_url,
                                    key_dir=workdir / "keys", log_dir=workdir,
                                    extra_env=CHAOS_ENV)  # fmt: skip
            try:
                cluster.start()
                say(f"cluster up in {time.time() - started:.0f} s; logs in {workdir}")
                if options.keep_database:
                    say(f"database {url.rsplit('/', 1)[-1]} is kept after the run")
                results = _event_loop_run(play(options, cluster, url, pg, workdir, ledger))
            finally:
                cluster.stop()
    finally:
        ensure_postgres(pg, options.pg_url)
        ledger.dump(workdir / "ledger.jsonl")
        shutil.rmtree(workdir / "keys", ignore_errors=True)
    total = time.time() - started
    header = (f"`python -m chaos{' --ci' if options.ci else ''}`, {stamp} UTC; PostgreSQL "
              f"stopped {pg.stops} time(s).")  # fmt: skip
    (workdir / "report.md").write_text(report.markdown(results, total, header))
    expected = len(scenarios(options))
    print(report.summary(results, expected, total))  # noqa: T201 - the report
    say(f"ledger and report in {workdir}; PostgreSQL was stopped {pg.stops} time(s)")
    return 0 if len(results) == expected and all(r.passed for r in results) else 1


def ensure_postgres(pg: PostgresControl, pg_url: str) -> None:
    """Whatever happened, leave the server running."""
    url = make_url(pg_url)
    probe = ["pg_isready", "-q", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    if subprocess.run(probe, check=False).returncode != 0:  # noqa: S603
        pg.start_blocking()


def _event_loop_run(coroutine: Awaitable[list[Result]]) -> list[Result]:
    async def main() -> list[Result]:
        return await coroutine

    return uvloop.run(main())
