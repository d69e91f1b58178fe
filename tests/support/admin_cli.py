"""The real `auth-service` admin CLI as a subprocess, for successes and failures alike."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from tests.support.live import BIN, LiveStack


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)


def run_cli(stack: LiveStack, *args: str, **env: str) -> CliResult:
    """Run `auth-service *args` against the stack's database; never raises on a non-zero exit."""
    result = subprocess.run(  # noqa: S603 - fixed argv
        [str(BIN / "auth-service"), *args],
        env=stack.env(**env),
        cwd=stack.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return CliResult(result.returncode, result.stdout, result.stderr)
