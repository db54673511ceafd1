"""Shared fixtures: a real Streamlit server, and Debian's headless chromium driving it.

Browser tests are marked ``@pytest.mark.browser`` and typically use ``open_app``::

    @pytest.mark.browser
    def test_something(open_app, wait_for_app):
        page = open_app("/compare")          # navigates and waits until the script run is done
        page.get_by_role("button", name="Go").click()
        wait_for_app(page)                   # wait for the rerun the click triggered

The server log goes to ``tests/artifacts/streamlit-server.log``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Hypothesis: `make test` (and CI) run the derandomized "ci" profile, so a green run stays green on
# every clean clone; `make fuzz` explores with fresh random seeds ("explore" profile).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_ROOT = Path(__file__).resolve().parents[1]

# The workspace (schedules/workspace): tests never touch the user's real one.  The whole session
# (and the servers it starts) points STUDIO_WORKSPACE at a fresh temporary folder, and every test
# gets its own folder under it (the autouse fixture below), so saved designs never leak between tests.
WORKSPACE_ROOT = Path(tempfile.mkdtemp(prefix="studio-test-workspace-"))
os.environ["STUDIO_WORKSPACE"] = str(WORKSPACE_ROOT / "session")
ARTIFACTS_DIR = REPO_ROOT / "tests" / "artifacts"

# A guard against a hung start (app.serve imports torch first), not a speed check.
SERVER_START_TIMEOUT_S = 180.0
SERVER_STOP_GRACE_S = 10.0

# Debian's chromium, installed by `make browser`. Playwright's own browser downloads are not used.
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1400, "height": 900}

# Streamlit's root element reports the websocket and script-run state; "notRunning" only appears
# once a run has happened (before the first run it says "initial").
APP_IDLE_SELECTOR = (
    '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
)
APP_IDLE_TIMEOUT_MS = 90_000  # generous: a guard against hangs on a loaded machine, not a speed check


@pytest.fixture(autouse=True)
def _own_workspace(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """STUDIO_WORKSPACE -> a folder of this test's own (created on first use)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.nodeid)[-120:]
    monkeypatch.setenv("STUDIO_WORKSPACE", str(WORKSPACE_ROOT / safe))


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``tests/artifacts/`` (git-ignored): screenshots, downloads, server logs."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, max_chars: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-max_chars:] or "<no output>"


def _wait_for_health(
    proc: subprocess.Popen, base_url: str, log_path: Path, timeout_s: float = SERVER_START_TIMEOUT_S
) -> None:
    health_url = f"{base_url}/_stcore/health"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"streamlit server exited with code {proc.returncode} before {health_url} answered.\n"
                f"--- server output ({log_path}) ---\n{_tail(log_path)}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(health_url, timeout=2) as response:
                if response.status == 200 and response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(
        f"streamlit server did not answer {health_url} with 'ok' within {timeout_s:.0f} s.\n"
        f"--- server output ({log_path}) ---\n{_tail(log_path)}",
        pytrace=False,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=SERVER_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def app_server(
    log_path: Path, env: dict[str, str] | None = None, start_timeout_s: float = SERVER_START_TIMEOUT_S
) -> Iterator[tuple[str, subprocess.Popen]]:
    """The real app as ``make run`` starts it (``python -m app.serve``: warm the first chart, then
    ``streamlit run app/main.py``) on a free port of 127.0.0.1, its output in ``log_path``, ``env``
    added to this process's environment; yields (base URL, process) once it answers its health check,
    and stops it afterwards."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "app.serve",
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        # Output goes to a file, not a pipe: a chatty server must never block on a full pipe.
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        try:
            _wait_for_health(proc, base_url, log_path, start_timeout_s)
            yield base_url, proc
        finally:
            _stop(proc)


@pytest.fixture(scope="session")
def streamlit_server(artifacts_dir: Path) -> Iterator[str]:
    """The session's shared server (:func:`app_server`); yields its base URL."""
    with app_server(artifacts_dir / "streamlit-server.log") as (base_url, _):
        yield base_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium (``/usr/bin/chromium``) driven by Playwright."""
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.fail(
            f"{CHROMIUM_PATH} is missing: the browser tests need Debian's chromium. "
            "Run `make browser` (apt-get install chromium), or `make test`, which runs it first.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (own cookies and storage) and page per test."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def _wait_for_app(page: Page, settle_ms: int = 250) -> None:
    # Wait, pause, wait again: right after an interaction the previous run's "notRunning" can still
    # be showing for a moment before the rerun it triggered starts.
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=APP_IDLE_TIMEOUT_MS)
    page.wait_for_timeout(settle_ms)
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=APP_IDLE_TIMEOUT_MS)


@pytest.fixture
def wait_for_app() -> Callable[..., None]:
    """``wait_for_app(page)``: block until the app is connected and its script run has finished."""
    return _wait_for_app


@pytest.fixture
def open_app(page: Page, streamlit_server: str) -> Callable[..., Page]:
    """``open_app(path="/")``: load a page of the running app and wait until it has rendered."""

    def _open(path: str = "/") -> Page:
        page.goto(streamlit_server + path)
        _wait_for_app(page)
        return page

    return _open
