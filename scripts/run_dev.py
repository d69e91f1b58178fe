"""`make run`: start the services and CoolNotesApp in the foreground; Ctrl-C (or one dying) stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# name, ASGI app factory, port, --app-dir (CoolNotesApp is a separate app, not an installed package).
# The resource API comes last: whoever waits for both services' health pages then also finds
# CoolNotesApp up (it needs nothing at start-up) and this launcher's banner printed.
SERVICES = [
    ("auth", "auth_service.main:create_app", 8000, None),
    ("coolnotes", "coolnotes.app:create_app", 8002, "examples/coolnotes"),
    ("resource", "resource_service.main:create_app", 8001, None),
]
# The local mail catcher (devtools/mail_catcher.py): what the auth service mails lands in
# var/mail and shows at /dev/mail, unless AUTH_SMTP_URL names a server of the caller's.
MAIL_CATCHER_PORT = 8025
HEALTHY_WITHIN = 60.0  # seconds, per service (a first start runs migrations and makes keys)
CREDENTIALS = Path("var/demo-credentials.json")


def start(app: str, port: int, app_dir: str | None, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", app, "--factory",
        "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
    ]  # fmt: skip
    if app_dir is not None:
        command += ["--app-dir", app_dir]
    return subprocess.Popen(command, env=env)  # noqa: S603 - fixed argv


def environment(credentials: dict[str, str] | None) -> dict[str, str]:
    """Ours plus CoolNotesApp's client credentials, from the file `make seed` wrote."""
    env = os.environ.copy()
    # A local playground on 127.0.0.1: MCP clients register themselves (RFC 7591, as the MCP
    # authorization specification expects), so registration is open here unless the caller says
    # otherwise. The service's own default stays closed; throttling stays on.
    env.setdefault("AUTH_REGISTRATION_OPEN", "true")
    if "AUTH_SMTP_URL" not in env:
        env["AUTH_SMTP_URL"] = f"smtp://127.0.0.1:{MAIL_CATCHER_PORT}"
        env["MYAUTH_MAIL_CATCHER"] = "1"
        # A sender that is plainly local, so no real mail system takes it for ours.
        env.setdefault("AUTH_MAIL_FROM", "MyAuthProvider <no-reply@myauth.localhost>")
    if credentials is not None:
        env.setdefault("COOLNOTES_CLIENT_ID", credentials["client_id"])
        env.setdefault("COOLNOTES_CLIENT_SECRET", credentials["client_secret"])
    return env


def banner(credentials: dict[str, str] | None) -> None:
    """The last lines `make run` prints, once every service answers its health page."""
    lines = [
        "",
        "MyAuthProvider is running (Ctrl-C stops it):",
        "  CoolNotesApp      http://127.0.0.1:8002   (the demo app: start here)",
        "  auth service      http://127.0.0.1:8000   (discovery: /.well-known/openid-configuration)",
        "  resource API      http://127.0.0.1:8001   (/api/v1/notes, /api/v1/me with a token)",
        "  MCP server        http://127.0.0.1:8001/mcp   (notes tools; clients register themselves)",
    ]
    if os.environ.get("AUTH_SMTP_URL") is None:
        lines.append(
            "  caught mail       http://127.0.0.1:8000/dev/mail   (what the service mailed)"
        )
    if credentials is not None:
        lines += [
            f"  demo user         {credentials['username']} / {credentials['password']}",
            f"  demo client       {credentials['client_id']} / {credentials['client_secret']}",
        ]
    print("\n".join(lines), flush=True)  # noqa: T201 - a launcher talks to its terminal


def wait_for(url: str, seconds: float, process: subprocess.Popen[bytes]) -> bool:
    """Start in order, each once the one before answers: the resource API finds its keys at once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - fixed loopback URL
                return True
        except OSError:
            time.sleep(0.2)
    return False


def read_credentials() -> dict[str, str] | None:
    if not CREDENTIALS.is_file():
        return None
    data: dict[str, str] = json.loads(CREDENTIALS.read_text())
    return data


def main() -> int:
    credentials = read_credentials()
    env = environment(credentials)
    processes = {}
    if env.pop("MYAUTH_MAIL_CATCHER", None):
        processes["mail catcher"] = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "devtools.mail_catcher", "--port", str(MAIL_CATCHER_PORT),
             "--dir", env.get("AUTH_DEV_MAIL_DIR", "var/mail")],
            env=env,
        )  # fmt: skip
    for name, app, port, app_dir in SERVICES:
        if name == "coolnotes" and "COOLNOTES_CLIENT_SECRET" not in env:
            print("no var/demo-credentials.json: run `make run` (it seeds); skipping CoolNotesApp")  # noqa: T201
            continue
        processes[name] = start(app, port, app_dir, env)
        if not wait_for(f"http://127.0.0.1:{port}/healthz", HEALTHY_WITHIN, processes[name]):
            print(f"{name} did not answer http://127.0.0.1:{port}/healthz; stopping", flush=True)  # noqa: T201
            stop_all(processes)
            return 1
    banner(credentials)
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
                print(f"{name} exited with {process.returncode}; stopping", flush=True)  # noqa: T201
                exit_code = process.returncode or 1
                stopping = True
        time.sleep(0.2)
    stop_all(processes)
    return exit_code


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
