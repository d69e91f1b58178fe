"""The benchmark harness in smoke mode: every case once, briefly, so `make bench` cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "ceiling_json", "ceiling_sign", "ceiling_header", "bearer_open", "bearer_protected",
    "dpop_protected", "cc_rs256", "cc_es256", "cc_private_key_jwt", "code", "refresh",
    "introspect", "api_me",
}  # fmt: skip
pytestmark = pytest.mark.e2e


def test_bench_smoke_runs_every_case_without_a_failed_request(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "RESOURCE_"))}
    env.pop("BENCH_DATABASE_URL", None)
    if TEST_DATABASE_URL:
        env["BENCH_DATABASE_URL"] = TEST_DATABASE_URL  # the harness makes its own database there
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--output", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert set(report["cases"]) == CASES
    for name, case in report["cases"].items():
        assert case["runs"][0]["requests"] > 0, name
        assert case["errors"] == 0, name
    assert report["problems"] == []
    assert all(mib for mib in report["peak_rss_mib"].values())
    assert "| `cc_rs256` |" in result.stdout
