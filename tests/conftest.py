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
#: Test servers key the per-client live-run cap on this header (LR_STUDIO_CLIENT_HEADER, as a trusted
#: proxy would set it): every browser context of the tests sends its own value (:func:`client_headers`),
#: so each stands for a user on a machine of their own, as before the cap.  All of them come from
#: 127.0.0.1, which without the header is one client ("ip:local").
CLIENT_HEADER = "X-Studio-Test-Client"


def client_headers(client: str | None = None) -> dict[str, str]:
    """``extra_http_headers`` for a browser context: a client of its own (or ``client``)."""
    import uuid

    return {CLIENT_HEADER: client or uuid.uuid4().hex}


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
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "LR_STUDIO_CLIENT_HEADER": CLIENT_HEADER,
                **(env or {}),
            },
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
    context = browser.new_context(
        viewport=VIEWPORT, accept_downloads=True, extra_http_headers=client_headers()
    )
    watch_runs(context)
    try:
        yield context.new_page()
    finally:
        context.close()


#: Put into every page before its scripts run: counts the script runs that start (the root element's
#: data-test-script-state turning "running") and remembers how many had started at the user's last
#: input (click, key, change). A widget change does not mark the page "running" until the server's
#: answer arrives, so "not running" right after a click does not mean its rerun is done.
RUN_WATCH_JS = """(() => {
  const st = window.__stRuns = {started: 0, atInput: 0, inputAt: 0};
  const mark = () => { st.atInput = st.started; st.inputAt = performance.now(); };
  for (const type of ['click', 'keydown', 'change']) document.addEventListener(type, mark, true);
  const watch = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) { setTimeout(watch, 20); return; }
    new MutationObserver((records) => {
      records.forEach((r, i) => {
        const now = i + 1 < records.length ? records[i + 1].oldValue : app.getAttribute(r.attributeName);
        if (now === 'running' && r.oldValue !== 'running') st.started += 1;
      });
    }).observe(app, {attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']});
  };
  watch();
})()"""

#: Idle: connected, not running, and a run has started since the last input, or none came within
#: `grace` ms of it (an input that starts no rerun: a plain expander, a tab without a rerun).
APP_SETTLED_JS = """(grace) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const st = window.__stRuns;
  return !st || st.started > st.atInput || performance.now() - st.inputAt > grace;
}"""
#: How long an input may go without starting a rerun before it is taken to start none.
RERUN_GRACE_MS = 3_000


def watch_runs(context) -> None:
    """Make :func:`_wait_for_app` exact in every page of ``context`` (see RUN_WATCH_JS)."""
    context.add_init_script(RUN_WATCH_JS)


def _wait_for_app(page: Page, settle_ms: int = 250) -> None:
    # The rerun a click or key started, not just "not running": that can still be the previous run's
    # state for a moment on a loaded machine, and a next click sent then replaces the rerun (a button
    # press is lost). Pages without the watcher fall back to wait, pause, wait again.
    page.wait_for_function(APP_SETTLED_JS, arg=RERUN_GRACE_MS, timeout=APP_IDLE_TIMEOUT_MS)
    page.wait_for_timeout(settle_ms)
    page.wait_for_function(APP_SETTLED_JS, arg=RERUN_GRACE_MS, timeout=APP_IDLE_TIMEOUT_MS)


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
