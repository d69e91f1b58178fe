"""The Node.js relying party of the end-to-end tests (tests/e2e/node), run as a subprocess."""

from __future__ import annotations

import json
import select
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import IN_CI

NODE_DIR = Path(__file__).resolve().parent.parent / "e2e" / "node"


def require_node() -> str:
    """Node and the installed npm packages; a failure in CI, a skip on a laptop without them."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openid-client").is_dir():
        message = "needs node and `npm ci --prefix tests/e2e/node` (make test does it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return node


def run_rp(command: str, **args: Any) -> dict[str, Any]:
    node = require_node()
    result = subprocess.run(  # noqa: S603 - fixed script, JSON argument
        [node, str(NODE_DIR / "rp.mjs"), command, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 2), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


class InteractiveRp:
    """A Node script as one process (tests/e2e/node/fapi2.mjs): it prints an authorization URL,
    is handed the callback URL on stdin, and so on, then prints its results; the DPoP private key
    never leaves Node."""

    def __init__(self, script: str, **args: Any) -> None:
        node = require_node()
        self.script = script
        self.process = subprocess.Popen(  # noqa: S603 - fixed script, JSON argument
            [node, str(NODE_DIR / script), json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def read(self, timeout: float = 60) -> dict[str, Any]:
        assert self.process.stdout is not None
        # Each step prints one whole line, so nothing is left buffered between reads and the pipe
        # can be waited on: a hung library fails the test instead of hanging the run.
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise AssertionError(f"{self.script} printed nothing for {timeout} seconds")
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=60)
            raise AssertionError(self.process.stderr.read() if self.process.stderr else "no output")
        data: dict[str, Any] = json.loads(line)
        return data

    def ask(self, line: str) -> dict[str, Any]:
        """Hand the script one line and read the line it prints next."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.read()

    def send(self, line: str) -> dict[str, Any]:
        """The last line: the script prints its results and exits."""
        result = self.ask(line)
        assert self.process.wait(timeout=60) in (0, 2)
        return result

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
