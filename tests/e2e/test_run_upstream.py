"""`make run-upstream`'s preparation (scripts/run_upstream.py --prepare): run twice in a fresh
directory, it makes the upstream's person and our client there once, and adds the provider to
our instance once."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from auth_service.operations import migrations
from shared.models import UpstreamProvider
from tests.support.databases import sqlite_url
from tests.support.live import LiveStack, rows

pytestmark = pytest.mark.e2e
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run_upstream.py"


def test_prepare_twice_makes_everything_once(tmp_path: Path) -> None:
    ours = sqlite_url(tmp_path / "ours.db")
    migrations.upgrade(ours)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    env.update({"DATABASE_URL": ours, "AUTH_KEY_DIR": str(tmp_path / "keys")})

    runs = [
        subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, str(SCRIPT), "--prepare"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        for _ in range(2)
    ]

    assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
    assert json.loads(runs[1].stdout) == {
        "issuer": "http://localhost:8010", "username": "upstream-demo",
    }  # fmt: skip
    credentials = tmp_path / "var" / "upstream" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    stack = LiveStack(database_url=ours, key_dir=tmp_path / "keys", workdir=tmp_path)
    (provider,) = rows(stack, UpstreamProvider)
    assert (provider.id, provider.issuer) == ("local-upstream", "http://localhost:8010")
    assert provider.client_id == json.loads(credentials.read_text())["client_id"]
