"""A bounded load test against the real server: concurrent browser sessions, zero errors.

Runs ``bench/load_test.py`` (its own process: Playwright's async API) against the session's
``streamlit run`` on 127.0.0.1 and writes the p50/p95 time to a redrawn chart to
``tests/artifacts/load_test.json``.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]


def test_concurrent_sessions_redraw_without_errors(streamlit_server, artifacts_dir):
    out = artifacts_dir / "load_test.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load_test.py"), "--url", streamlit_server,
         "--sessions", "3", "--seconds", "15", "--json", str(out)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    print(proc.stdout)
    result = json.loads(out.read_text())
    assert result["errors"] == [], result["errors"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["redraws"] >= 6
    assert all(n >= 2 for n in result["changes_per_session"].values()), result["changes_per_session"]
    # Latency figures (p50/p95) are reported by `make bench`, not asserted here.
