"""Where a server's time goes: py-spy recordings of a run and a summary of them.

`python bench/run.py --profile DIR` records each case's first measured run into DIR/<case>.txt
(py-spy's collapsed stacks, one line per stack with thread and sample count);
`python -m bench.profiling DIR/*.txt` summarises them: busy samples by thread kind, self time
by library (the innermost frame that belongs to one), and the application's own functions by
inclusive time.

py-spy samples without pausing the server: pausing stops every thread for each sample, and a
paused transaction holding SQLite's write lock leaves every other connection waiting, which
turns the profile into a picture of the profiler. Unpaused samples are sometimes cut short at
the root end, so self time is sound while inclusive times are lower bounds.
"""

from __future__ import annotations

import argparse
import contextlib
import linecache
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Innermost matching frame wins. joserfc's algorithm models call cryptography's Rust directly, so
# their frame is the innermost Python one of a signature: count it as "crypto", not as joserfc.
LIBRARIES = (
    (
        "crypto (RSA/EC/EdDSA sign, verify)",
        ("cryptography/", "joserfc/_rfc7518/jws_algs.py", "joserfc/_rfc8037/jws_eddsa.py"),
    ),
    ("joserfc", ("joserfc/",)),
    ("sqlite3 driver thread", ("aiosqlite/core.py",)),
    ("asyncpg", ("asyncpg/",)),
    ("SQLAlchemy + SQLModel", ("sqlalchemy/", "sqlmodel/")),
    ("aiosqlite (event-loop side)", ("aiosqlite/",)),
    ("pydantic", ("pydantic/", "pydantic_core/", "pydantic_settings/")),
    ("logging", ("logging/",)),
    ("json", ("json/",)),
    ("prometheus_client", ("prometheus_client/",)),
    ("FastAPI", ("fastapi/",)),
    ("Starlette", ("starlette/",)),
    ("anyio (thread pool)", ("anyio/", "concurrent/futures/", "threading.py")),
    ("uvicorn + httptools", ("uvicorn/", "httptools/")),
    ("asyncio", ("asyncio/",)),
    ("app: auth_service", ("auth_service/",)),
    ("app: resource_service", ("resource_service/",)),
    ("app: shared", ("shared/",)),
    ("app: bench", ("bench/",)),
)
OWN_CODE = ("auth_service/", "resource_service/", "shared/", "bench/")
# Leaves where a thread waits for work: py-spy's non-blocking mode still reports some of them.
WAITING = ("Condition.wait", "Event.wait", "Queue.get", "select", "poll")
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def is_waiting(name: str, file: str, line: int) -> bool:
    """A thread parked on its work queue (AnyIO's workers, aiosqlite's connection threads)."""
    if name.rsplit(".", 1)[-1] in {w.rsplit(".", 1)[-1] for w in WAITING}:
        return True
    return name == "_connection_worker_thread" and ".get(" in _source_line(file, line)


def _source_line(relative: str, line: int) -> str:
    for root in sys.path:
        path = Path(root) / relative
        if path.is_file():
            return linecache.getline(str(path), line)
    return ""


@dataclass
class Summary:
    idle: int = 0  # samples of threads waiting for work, left out of every share
    samples_by_thread: Counter[str] = field(default_factory=Counter)
    self_by_library: Counter[str] = field(default_factory=Counter)
    inclusive_own: Counter[str] = field(default_factory=Counter)
    self_functions: Counter[str] = field(default_factory=Counter)
    total: int = 0


def thread_kind(label: str) -> str:
    if "MainThread" in label:
        return "event loop (main thread)"
    if "_connection_worker_thread" in label:
        return "aiosqlite connection threads"
    if "AnyIO worker" in label:
        return "AnyIO worker threads (sync code off the loop)"
    return "other threads"


def library(file: str) -> str | None:
    for name, markers in LIBRARIES:
        if any(marker in file for marker in markers):
            return name
    return None


def summarise(path: Path) -> Summary:
    summary = Summary()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        matches = [m for m in map(_FRAME.match, frames) if m]
        if matches and is_waiting(
            matches[-1]["name"], matches[-1]["file"], int(matches[-1]["line"])
        ):
            summary.idle += count
            continue
        parsed = [(m["name"], m["file"]) for m in matches]
        if not parsed or parsed[-1][0] == "Runner.run":
            parsed = [("(uvloop's C loop, or idle)", "<uvloop>")]
        summary.total += count
        summary.samples_by_thread[thread_kind(thread)] += count
        innermost = next((lib for _, file in reversed(parsed) if (lib := library(file))), None)
        innermost = innermost or (
            "event loop (C) or idle" if parsed[0][1] == "<uvloop>" else "other"
        )
        summary.self_by_library[innermost] += count
        name, file = parsed[-1]
        summary.self_functions[f"{name} ({file})"] += count
        for name, file in {(n, f) for n, f in parsed if f.startswith(OWN_CODE)}:
            summary.inclusive_own[f"{name} ({file})"] += count
    return summary


def render(path: Path, summary: Summary, top: int = 12) -> str:
    def pct(n: int) -> str:
        return f"{100 * n / summary.total:5.1f}%" if summary.total else "    -"

    lines = [
        f"## {path.stem}: {summary.total} busy samples ({summary.idle} waiting, left out)",
        "threads:",
    ]
    lines += [f"  {pct(n)}  {kind}" for kind, n in summary.samples_by_thread.most_common()]
    lines += ["self time by library:"]
    lines += [f"  {pct(n)}  {lib}" for lib, n in summary.self_by_library.most_common(top)]
    lines += ["own code, inclusive:"]
    lines += [f"  {pct(n)}  {fn}" for fn, n in summary.inclusive_own.most_common(top + 8)]
    lines += ["hottest leaf functions:"]
    lines += [f"  {pct(n)}  {fn}" for fn, n in summary.self_functions.most_common(top)]
    return "\n".join(lines) + "\n"


def py_spy_executable() -> str:
    executable = shutil.which("py-spy") or shutil.which(
        "py-spy", path=str(Path(sys.executable).parent)
    )
    if executable is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy (not a project dependency)")
    return executable


@contextlib.contextmanager
def recording(pid: int, path: Path) -> Iterator[None]:
    """Sample `pid` while the block runs, without pausing it. Idle threads are left out."""
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy_executable(), "record", "--pid", str(pid), "--format", "raw", "--threads",
               "--nonblocking", "--rate", "100", "--output", str(path)]  # fmt: skip
    recorder = subprocess.Popen(  # noqa: S603 - fixed argv
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        recorder.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Summarise py-spy recordings of bench runs.")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    for path in args.files:
        sys.stdout.write(render(path, summarise(path), args.top) + "\n")


if __name__ == "__main__":
    main()
