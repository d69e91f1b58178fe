"""Run the benchmark: `python bench/run.py [--full | --smoke]` (what `make bench` and `make bench-full` do).

A fresh database (SQLite, or PostgreSQL with BENCH_DATABASE_URL), the services as real uvicorn
processes on CPU 0, the load generator on CPU 1, every case in every round beside its ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auth_service.operations import migrations  # noqa: E402
from bench import profiling, report, seed  # noqa: E402
from bench.cases import Case, ClientSigners, build_cases  # noqa: E402
from bench.client_jwts import AssertionSigner, DpopSigner  # noqa: E402
from bench.load import RunResult, run_python, run_wrk, wrk_available  # noqa: E402
from bench.stack import (  # noqa: E402
    LOAD_CPU,
    ROOT,
    Stack,
    can_pin,
    fresh_database,
    running_stack,
)


@dataclass(frozen=True, slots=True)
class Profile:
    warmup: float  # seconds per case, once, before the measured rounds
    runs: int
    seconds: float
    connections: int
    token_pool: int  # distinct access tokens for the resource and introspection cases
    targets: bool


PROFILES = {
    "quick": Profile(warmup=2, runs=3, seconds=3, connections=32, token_pool=1000, targets=True),
    "full": Profile(warmup=5, runs=3, seconds=10, connections=32, token_pool=1000, targets=True),
    "smoke": Profile(warmup=0, runs=1, seconds=1, connections=4, token_pool=50, targets=False),
}
POOL_MARGIN = 1.4  # single-use pools: this much more than the fastest rate seen could use
POOL_FLOOR_RATE = 600.0  # requests a second a single-use pool is sized for at the least


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


@dataclass(frozen=True, slots=True)
class Options:
    mode: str
    profile: Profile
    driver: str
    output: Path | None
    cases: list[str] | None
    workdir: Path | None
    profile_dir: Path | None


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_const", dest="mode", const="full")
    mode.add_argument(
        "--smoke",
        action="store_const",
        dest="mode",
        const="smoke",
        help="every case once, briefly, no targets (the test suite runs this)",
    )
    parser.add_argument("--seconds", type=float, help="length of each measured run")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--connections", type=int)
    parser.add_argument(
        "--driver",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk when installed; the httpx loop only suits --smoke",
    )
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep the database, keys and server logs here instead of in a temporary directory",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the servers with py-spy (if installed) during each case's first measured "
        "run: DIR/<case>.txt, collapsed stacks with thread ids, idle frames included",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the reports "
        "(default bench/results; a smoke run writes none unless told)",
    )
    args = parser.parse_args(argv)
    name = args.mode or "quick"
    profile = PROFILES[name]
    overrides = {k: getattr(args, k) for k in ("seconds", "runs", "warmup", "connections")}
    profile = replace(profile, **{k: v for k, v in overrides.items() if v is not None})
    driver = args.driver
    if driver == "auto":
        driver = "wrk" if wrk_available() else "python"
    if driver == "wrk" and not wrk_available():
        raise SystemExit("wrk is not installed: `apt-get install wrk` (make bench does it)")
    if driver == "python" and name != "smoke":
        say("warning: the httpx driver measures itself more than the servers; install wrk")
    output = args.output or (None if name == "smoke" else ROOT / "bench" / "results")
    cases = args.cases.split(",") if args.cases else None
    return Options(name, profile, driver, output, cases, args.workdir, args.profile)


def pool_size(case: Case, results: dict[str, report.CaseResult], seconds: float) -> int:
    """Enough single-use items for the fastest this case (or the cases it is paced by) has gone,
    and never fewer than POOL_FLOOR_RATE would use: a slow warm-up (a cold process, a busy
    machine) must not leave a fast run without codes."""
    seen = [
        run.rps
        for r in (results[case.name], *(results.get(name) for name in case.paced_by))
        if r
        for run in (*r.warmup, *r.runs)
    ]
    rate = max([*seen, POOL_FLOOR_RATE])
    return int(rate * seconds * POOL_MARGIN) + 50


def run_once(
    case: Case, stack: Stack, options: Options, seconds: float, pool: int, *, profile: bool
) -> RunResult:
    stack.wait_idle()
    load = case.load_for_run(pool)
    server = stack.servers[case.server]
    with contextlib.ExitStack() as sampler:
        if profile and options.profile_dir is not None:
            path = options.profile_dir / f"{case.name}.txt"
            sampler.enter_context(profiling.recording(server.process.pid, path))
        cpu_before = server.cpu_seconds()
        if options.driver == "wrk":
            connections = options.profile.connections
            result = run_wrk(load, seconds=seconds, connections=connections, workdir=stack.workdir)
        else:
            result = run_python(load, seconds=seconds, connections=options.profile.connections)
        cpu = server.cpu_seconds() - cpu_before
    return replace(result, server_cpu=cpu / result.seconds)


def measure(cases: list[Case], stack: Stack, options: Options) -> dict[str, report.CaseResult]:
    """A warm-up round, then `runs` rounds; each round runs every case once, in order."""
    profile = options.profile
    results = {case.name: report.CaseResult.of(case) for case in cases}
    rounds = [("warm-up", profile.warmup)] if profile.warmup > 0 else []
    rounds += [(f"run {n}", profile.seconds) for n in range(1, profile.runs + 1)]
    for label, seconds in rounds:
        for case in cases:
            done = results[case.name].warmup if label == "warm-up" else results[case.name].runs
            first = label != "warm-up" and not done
            size = pool_size(case, results, seconds)
            result = run_once(case, stack, options, seconds, size, profile=first)
            done.append(result)
            say(
                f"{label:8} {case.name:17} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f} ms"
                f"  p99 {result.p99_ms:6.2f} ms  cpu {result.server_cpu:4.2f}"
                f"  errors {result.errors}{'  POOL RAN OUT' if result.exhausted else ''}"
            )
    return results


def machine() -> dict[str, str | int]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    commit = subprocess.run(  # noqa: S603 - fixed argv
        ["git", "describe", "--always", "--dirty"],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu_model": model,
        "cpus": os.cpu_count() or 1,
        # Other work on the machine skews everything; the servers' CPU share column shows it too.
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[0],
        "python": platform.python_version(),
        "commit": commit or "unknown",
    }


@dataclass
class Outcome:
    results: dict[str, report.CaseResult]
    rss: dict[str, float | None]  # peak (VmHWM)
    rss_at_end: dict[str, float | None]  # VmRSS
    log_errors: dict[str, list[str]]
    log_warnings: dict[str, list[str]]
    token_pool: int


def run_bench(options: Options, workdir: Path, server_url: str | None) -> Outcome:
    with fresh_database(workdir, server_url) as url:
        migrations.upgrade(url)
        assertion_signer = AssertionSigner()
        seeded = asyncio.run(seed.seed(url, assertion_signer.jwks))
        with running_stack(url, workdir) as stack:
            if can_pin():
                os.sched_setaffinity(0, {LOAD_CPU})  # pool making and httpx stay off CPU 0
            families = asyncio.run(seed.refresh_tokens(url, seeded, options.profile.token_pool))
            token_url = f"{stack.servers['auth-rs256'].url}/oauth/token"
            tokens = asyncio.run(seed.access_tokens(token_url, seeded, families))
            dpop = DpopSigner()
            bound = asyncio.run(
                seed.dpop_access_tokens(token_url, seeded, dpop, options.profile.token_pool)
            )
            signers = ClientSigners(dpop, assertion_signer, tuple(bound))
            cases = build_cases(stack, seeded, tokens, signers)
            cases = [c for c in cases if options.cases is None or c.name in options.cases]
            results = measure(cases, stack, options)
            return Outcome(
                results,
                stack.memory_mib("VmHWM"),
                stack.memory_mib("VmRSS"),
                stack.error_lines(),
                stack.warning_lines(),
                len(tokens),
            )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    profile = options.profile
    started = datetime.now(UTC)
    server_url = os.environ.get("BENCH_DATABASE_URL") or None
    database = "PostgreSQL" if server_url else "SQLite"
    say(f"bench: {options.mode}, {database}, driver {options.driver}")
    with contextlib.ExitStack() as cleanup:
        if options.workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        else:
            workdir = options.workdir.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        outcome = run_bench(options, workdir, server_url)
    meta = {
        "started_at": started.isoformat(timespec="seconds"),
        "mode": options.mode,
        "driver": options.driver,
        "database": database,
        "connections": profile.connections,
        "runs": profile.runs,
        "seconds": profile.seconds,
        "warmup": profile.warmup,
        "token_pool": outcome.token_pool,
        **machine(),
    }
    with_targets = profile.targets and options.cases is None
    table = report.markdown(
        outcome.results, outcome.rss, meta, with_targets=with_targets, rss_at_end=outcome.rss_at_end
    )
    data = report.as_json(outcome.results, outcome.rss, meta)
    for name, lines in outcome.log_errors.items():
        if lines:
            data["problems"].append(
                f"{name}: {len(lines)} error lines in its log, first: {lines[0]}"
            )
    data["rss_at_end_mib"] = {k: v and round(v, 1) for k, v in outcome.rss_at_end.items()}
    data["server_warnings"] = {
        name: report.count_messages(lines) for name, lines in outcome.log_warnings.items() if lines
    }
    sys.stdout.write(table)
    if options.output is not None:
        say(f"wrote {report.write(options.output, started, data, table)}")
    for name, messages in data["server_warnings"].items():
        for message, count in messages.items():
            say(f"warning: {name} logged {count} x {message!r}")
    for problem in data["problems"]:
        say(f"problem: {problem}")
    return 1 if data["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
