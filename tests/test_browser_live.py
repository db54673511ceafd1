"""The Live page in a real browser: Start shows progress while the page stays live; Stop stops at once."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

STATUS = re.compile(r"(ready|running|stopped|done|busy) · ([\d,]+) / ([\d,]+) steps.* · ([\d.]+) s")


def status_line(page) -> re.Match:
    text = page.locator('[data-testid="stMarkdownContainer"]', has_text=STATUS).first.inner_text()
    match = STATUS.search(text)
    assert match, text
    return match


def status(page) -> tuple[str, int]:
    """(status word, steps done) from the run's status line."""
    match = status_line(page)
    return match.group(1), int(match.group(2).replace(",", ""))


def wait_until(predicate, timeout_s: float, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    return predicate()


def test_start_shows_progress_and_stop_stops_within_a_second(
    open_app, wait_for_app, artifacts_dir: Path
) -> None:
    # A deep link straight to the page works (pages live in app/views/, not Streamlit's pages/).
    page = open_app("/live")
    assert page.get_by_role("heading", name="Live run").count() == 1

    steps = page.get_by_role("spinbutton", name="Steps (cap)")
    steps.fill("20000")
    steps.press("Enter")
    wait_for_app(page)

    page.get_by_role("button", name="Start", exact=True).click()
    # Progress arrives through the polling fragment while the page stays interactive.
    assert wait_until(lambda: page.locator('[data-testid="stProgress"]').count() > 0, 20)
    assert wait_until(lambda: status(page)[0] == "running" and status(page)[1] >= 50, 30), status(page)
    first = status(page)[1]
    assert wait_until(lambda: status(page)[1] > first, 10), "no progress while running"
    assert wait_until(lambda: page.locator('[data-testid="stPlotlyChart"]').count() >= 3, 20)

    stop = page.get_by_role("button", name="Stop", exact=True).first
    stop.click()
    assert wait_until(lambda: status(page)[0] == "stopped", 30), status(page)  # generous: hangs only
    latency = float(re.search(r"ended ([\d.]+) s after Stop", status_line(page).string).group(1))
    wait_for_app(page)
    done = status(page)[1]
    page.wait_for_timeout(1000)
    assert status(page) == ("stopped", done), "steps kept coming after Stop"
    assert 0 < done < 60_000
    print(f"stop: thread ended {latency:.3f} s after Stop (bench/run.py measures the stop latency)")

    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert page.get_by_role("button", name="Download run as CSV").count() == 1
    page.set_viewport_size({"width": 1400, "height": 1500})  # the app scrolls inside stMain
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts_dir / "live.png", full_page=True)
