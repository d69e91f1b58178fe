"""`make run`: start the services in the foreground; Ctrl-C (or one of them dying) stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SERVICES = [
    ("auth", "auth_service.main:create_app", 8000),
    ("resource", "resource_service.main:create_app", 8001),
]
CREDENTIALS = Path("var/demo-credentials.json")


def start(app: str, port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", app, "--factory",
        "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=os.environ.copy())  # noqa: S603 - fixed argv


def banner() -> None:
    lines = [
        "",
        "MyAuthProvider is starting:",
        "  auth service      http://127.0.0.1:8000   (discovery: /.well-known/openid-configuration)",
        "  resource API      http://127.0.0.1:8001   (try /api/v1/me with a token)",
    ]
    if CREDENTIALS.is_file():
        creds = json.loads(CREDENTIALS.read_text())
        lines += [
            f"  demo user         {creds['username']} / {creds['password']}",
            f"  demo client       {creds['client_id']} / {creds['client_secret']}",
        ]
    lines += ["Press Ctrl-C to stop.", ""]
    print("\n".join(lines), flush=True)  # noqa: T201 - a launcher talks to its terminal


def wait_for(url: str, seconds: float) -> None:
    """Give the auth service a moment so the resource service finds its keys at once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - fixed loopback URL
                return
        except OSError:
            time.sleep(0.2)


def main() -> int:
    processes = {}
    for name, app, port in SERVICES:
        processes[name] = start(app, port)
        wait_for(f"http://127.0.0.1:{port}/healthz", 15)
    banner()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} service exited with {process.returncode}; stopping", flush=True)  # noqa: T201
                exit_code = process.returncode or 1
                stopping = True
        time.sleep(0.2)
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
