"""Issue 29 in a real browser (headless Debian chromium against ``streamlit run``): the Designer at
1280 x 720 shows the title, summary card, chart controls and chart without scrolling; a nonsense design
gets the validate warnings above the chart; the chart stays in view while a long section is edited;
and the Live page's cap starts at the design's length and a reload shows the last finished run.

Screenshots go to ``tests/artifacts/`` (git-ignored): designer_1280x720.png,
designer_sanity_warning.png, designer_sticky_chart.png, live_steps_cap.png, live_reload_reattached.png.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg'
STATUS = re.compile(r"(ready|running|stopped|done|busy) · ([\d,]+) / ([\d,]+) steps")


def no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def box(page, selector: str) -> dict:
    b = page.locator(selector).first.bounding_box()
    assert b is not None, selector
    return b


def wait_until(predicate, timeout_s: float, interval_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    return predicate()


def test_the_designer_fits_1280x720_warns_above_the_chart_and_keeps_it_in_view(
    open_app, wait_for_app, artifacts_dir: Path
) -> None:
    page = open_app("/")
    page.set_viewport_size({"width": 1280, "height": 720})
    page.wait_for_selector(CHART, timeout=90_000)
    wait_for_app(page)
    no_exception(page)

    # Title, summary card (its six figures in one row), chart controls and chart: all inside 720 px.
    card = box(page, ".lrs-figures")
    tops = {round(b["y"]) for b in (f.bounding_box() for f in page.locator(".lrs-figure").all())}
    assert len(tops) == 1, f"the summary card wraps: figure tops {sorted(tops)}"
    controls = box(page, '[data-testid="stButtonGroup"]')
    toggles = [
        page.get_by_text(t, exact=True).bounding_box() for t in ("log lr", "all groups", "epoch lines")
    ]
    assert {round(t["y"]) for t in toggles} == {round(toggles[0]["y"])}, "the chart controls wrap"
    chart = box(page, '[data-testid="stPlotlyChart"]')
    assert card["y"] >= 0 and card["y"] + card["height"] < controls["y"] < chart["y"]
    assert chart["y"] + chart["height"] <= 720, f"the chart ends at {chart['y'] + chart['height']:.0f} px"
    page.screenshot(path=artifacts_dir / "designer_1280x720.png")

    # A warmup longer than the run (4,689 steps): the validate warning, above the chart.
    page.get_by_text("Warmup", exact=True).click()
    wait_for_app(page)
    page.get_by_text("steps", exact=True).first.click()
    wait_for_app(page)
    steps = page.get_by_role("spinbutton", name="Warmup steps")
    steps.fill("5000")
    steps.press("Enter")
    wait_for_app(page)
    warning = page.get_by_text("Valid, but probably not what you meant:")
    warning.wait_for(timeout=60_000)
    alert = page.locator('[data-testid="stAlert"]', has_text="Valid, but probably not what you meant:")
    text = alert.inner_text()
    assert (
        "warmup.steps: the warmup (5,000 optimizer steps) is as long as or longer than the run (4,689" in text
    )
    assert alert.bounding_box()["y"] < box(page, '[data-testid="stPlotlyChart"]')["y"]
    no_exception(page)
    page.screenshot(path=artifacts_dir / "designer_sanity_warning.png")
    steps.fill("200")
    steps.press("Enter")
    wait_for_app(page)
    assert wait_until(lambda: alert.count() == 0, 30), "the warning stayed after the fix"

    # A long section edited far down the page: the chart column stays in view (sticky).
    page.get_by_text("Plateau (ReduceLROnPlateau)", exact=True).click()
    wait_for_app(page)
    page.get_by_text("Reduce on plateau", exact=True).click()
    wait_for_app(page)
    page.wait_for_selector(CHART, timeout=60_000)
    page.locator('[data-testid="stMain"]').evaluate("m => { m.scrollTop = m.scrollHeight }")
    page.wait_for_timeout(500)
    seed = page.get_by_role("spinbutton", name="seed").bounding_box()
    assert seed is not None and 0 < seed["y"] < 720, "the plateau inputs are on screen"
    chart = box(page, '[data-testid="stPlotlyChart"]')
    visible = min(chart["y"] + chart["height"], 720) - max(chart["y"], 0)
    assert visible >= 0.8 * chart["height"], (
        f"only {visible:.0f} of the chart's {chart['height']:.0f} px show"
    )
    scrolled = page.locator('[data-testid="stMain"]').evaluate("m => m.scrollTop")
    assert scrolled > 500, scrolled  # the page did scroll: the chart stayed because it sticks
    no_exception(page)
    page.screenshot(path=artifacts_dir / "designer_sticky_chart.png")


def run_status(page) -> tuple[str, int, int] | None:
    blocks = page.locator('[data-testid="stMarkdownContainer"]', has_text=STATUS)
    if blocks.count() == 0:
        return None
    m = STATUS.search(blocks.first.inner_text())
    return (m.group(1), int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))) if m else None


def test_the_live_cap_starts_at_the_design_and_a_reload_shows_the_last_finished_run(
    open_app, wait_for_app, artifacts_dir: Path
) -> None:
    page = open_app("/live")
    no_exception(page)
    cap = page.get_by_role("spinbutton", name="Steps (cap)")
    assert cap.input_value() == "4689"  # the default design's length, not a 1,000-step cut
    assert page.get_by_text("of the design's 4,689 optimizer steps").count() == 0
    cap.fill("30")
    cap.press("Enter")
    wait_for_app(page)
    page.get_by_text(
        "Runs 30 of the design's 4,689 optimizer steps: the schedule is cut at step 30"
    ).wait_for()
    page.screenshot(path=artifacts_dir / "live_steps_cap.png")

    page.get_by_role("button", name="Start", exact=True).click()
    assert wait_until(lambda: (run_status(page) or ("",))[0] == "done", 240), run_status(page)
    wait_for_app(page)
    done = run_status(page)
    assert done[1] == done[2] == 90  # three settings x 30 steps

    page.reload()
    wait_for_app(page)
    page.get_by_text("The last run this browser started before the page was reloaded has ended").wait_for(
        timeout=60_000
    )
    assert run_status(page) == done
    page.wait_for_selector(CHART, timeout=60_000)
    assert wait_until(lambda: page.locator('[data-testid="stPlotlyChart"]').count() >= 3, 30)
    assert page.get_by_role("button", name="Download run as CSV").count() == 1
    no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 1400})
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts_dir / "live_reload_reattached.png")
