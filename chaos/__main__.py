"""`python -m chaos [--ci] [--scenario N …]`: the fault suite (`make chaos`, `make chaos-ci`)."""

from __future__ import annotations

import argparse
import signal
import sys

from chaos import suite


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--ci", action="store_true",
                        help="the CI subset: scenarios 1 (20 s baseline), 2 and 6")  # fmt: skip
    parser.add_argument("--scenario", type=int, action="append", choices=range(1, 7),
                        help="run only this scenario (repeatable)")  # fmt: skip
    parser.add_argument("--baseline-seconds", type=float, default=None)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
                        help="the PostgreSQL server; a fresh database is created on it and dropped")  # fmt: skip
    parser.add_argument("--pg-ctl", default=None,
                        help="command that takes `stop -m fast` and `start` for that server "
                        "(default: pg_ctlcluster --skip-systemctl-redirect VERSION main)")  # fmt: skip
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9",
                        help="a Redis database the suite owns: it is emptied at the start")  # fmt: skip
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep-database", action="store_true",
                        help="do not drop the run's database (for a post-mortem)")  # fmt: skip
    return parser.parse_args(argv)


if __name__ == "__main__":
    # Stopped from outside: unwind like Ctrl-C, so the cluster stops and PostgreSQL is started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(suite.run(parse()))
