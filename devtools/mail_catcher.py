"""A local SMTP server that delivers nowhere: each message it receives becomes a file.

`make run` starts it on 127.0.0.1:8025 and points the auth service at it; the auth service
shows what it caught at /dev/mail (development only). Tests start it in-process.

    python -m devtools.mail_catcher [--host 127.0.0.1] [--port 8025] [--dir var/mail]
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

KEEP = 200  # the oldest files beyond this many are deleted


class FileHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or b""
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.directory / f".{name}.part"
        partial.write_bytes(content)
        partial.rename(self.directory / name)  # readers never see half a message
        for old in sorted(self.directory.glob("*.eml"))[:-KEEP]:
            old.unlink(missing_ok=True)
        return "250 Message accepted for delivery"


def catcher(directory: Path, host: str = "127.0.0.1", port: int = 8025) -> Controller:
    """A started-on-demand catcher (`.start()`, `.stop()`) writing into `directory`."""
    return Controller(FileHandler(directory), hostname=host, port=port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    args = parser.parse_args()
    controller = catcher(args.dir, args.host, args.port)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
