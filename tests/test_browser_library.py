"""The workspace in a real browser against real servers: save a design on the Designer and finish a
live run, stop the server, start a new one on the same STUDIO_WORKSPACE, and find both again in
the Library (and the design in Compare).  This test runs its own two servers, not the session's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import APP_IDLE_SELECTOR, app_server, client_headers, watch_runs

from schedules.workspace import Workspace

pytestmark = pytest.mark.browser


SERVER_START_TIMEOUT_S = 300.0  # app.serve warms the first chart before it listens; the machine is shared


@contextlib.contextmanager
def server(workspace: Path, log_path: Path) -> Iterator[str]:
    with app_server(log_path, {"STUDIO_WORKSPACE": str(workspace)}, SERVER_START_TIMEOUT_S) as (base_url, _):
        yield base_url


def settle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the app is connected and idle (generous: two servers and chromium share 2 busy cores)."""
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=timeout_ms)
    page.wait_for_timeout(250)
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=timeout_ms)


def first_load(page, url: str) -> None:
    """A fresh server's first script run imports torch and the app: give it longer than later runs."""
    page.goto(url)
    settle(page, 180_000)


def no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def test_saved_design_and_live_run_survive_a_server_restart(
    browser, tmp_path: Path, artifacts_dir: Path
) -> None:
    workspace = tmp_path / "workspace"
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, extra_http_headers=client_headers()
    )
    watch_runs(context)
    page = context.new_page()
    try:
        with server(workspace, artifacts_dir / "library-server-1.log") as url:
            first_load(page, url + "/")
            page.get_by_text("Import, share & save").click()
            box = page.get_by_label("Save as", exact=True)
            box.fill("kept across restarts")
            box.press("Enter")
            settle(page)
            page.get_by_role("button", name="Save", exact=True).click()
            settle(page)
            page.get_by_text("Saved 'kept across restarts' to the Library").wait_for()
            no_exception(page)

            page.get_by_role("link", name="Live run").click()
            settle(page)
            steps = page.get_by_label("Steps (cap)", exact=True)
            steps.fill("30")
            steps.press("Enter")
            settle(page)
            page.get_by_role("button", name="Start", exact=True).click()
            page.get_by_text("Download run as CSV").wait_for(timeout=180_000)  # shown once the run is done
            settle(page)
            no_exception(page)
        # The first server is gone.  Its workspace holds the design and the finished runs.
        ws = Workspace(workspace / "workspace.sqlite3")
        assert [d.name for d in ws.designs()] == ["kept across restarts"]
        runs = ws.runs()
        # Every setting ran to its end: 30 steps (the cap), or all of a shorter design.
        assert runs and all(r.status == "done" and r.n_rows == min(30, r.meta["total_steps"]) for r in runs)
        ws.close()

        # A new server on the same workspace, and a new browser session.
        page.close()
        page = context.new_page()
        with server(workspace, artifacts_dir / "library-server-2.log") as url:
            first_load(page, url + "/library")
            no_exception(page)
            page.get_by_text("Designs (1)").wait_for()
            # The chosen design's caption names it.
            page.get_by_text("kept across restarts: created").wait_for()
            page.get_by_role("tab", name=f"Runs ({len(runs)})").click()
            settle(page)
            page.get_by_text(f"live run, done; {runs[0].n_rows} steps").first.wait_for()
            page.screenshot(path=artifacts_dir / "library.png")

            # Compare offers it too.
            page.get_by_role("link", name="Compare").click()
            settle(page)
            page.get_by_role("combobox", name="Designs to overlay").click()
            page.get_by_role("option", name="kept across restarts").wait_for()
            no_exception(page)
    finally:
        context.close()
