"""The Node.js relying party of the end-to-end tests (tests/e2e/node), run as a subprocess."""

from __future__ import annotations

import json
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
