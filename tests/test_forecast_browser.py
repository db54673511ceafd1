"""The Forecast page in a real browser (Debian chromium) against ``streamlit run``: fit the example
runs (the project's MLP, constant and cosine lr), see fitted vs logged and the predictions with
bands, suggest a schedule and save it, branch cooldowns off the constant trunk and open a branch in the
Designer.  Saves the docs/ screenshots (tests/artifacts/forecast.png, forecast_branches.png)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import APP_IDLE_SELECTOR

from schedules import load_config
from schedules.share import encode_design

pytestmark = pytest.mark.browser

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "forecast" / "cosine_design.json"
CHARTS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'))
    .filter(el => el._fullData && el._fullData.length && el.offsetParent !== null)
    .map(el => el._fullData.map(t => t.name))"""


def wait_long(page, timeout_ms: int = 300_000) -> None:
    """The app idle after a long run (a fit, the suggestion): minutes on this shared machine."""
    page.wait_for_timeout(300)
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=timeout_ms)


def no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def test_fit_predict_suggest_branch_open(page, streamlit_server: str, artifacts_dir: Path) -> None:
    page.goto(f"{streamlit_server}/forecast?design={encode_design(load_config(str(DESIGN)))}")
    # a cold server imports scipy and the page's modules on its first run: more than the usual 30 s here
    page.get_by_text("1. Runs to fit on").wait_for(timeout=180_000)
    wait_long(page)
    no_exception(page)
    page.get_by_text("same model, data, batch size, optimizer").first.wait_for()
    page.get_by_text("Example runs: the project's MLP, constant and cosine lr").click()
    wait_long(page)
    page.get_by_text("2 run(s) selected: constant.csv (2500 steps").wait_for()
    page.get_by_role("button", name="Fit", exact=True).click()
    page.get_by_text("2. Fitted vs logged").wait_for(timeout=600_000)  # the fit: tens of seconds here
    wait_long(page)
    no_exception(page)
    page.wait_for_function(f"() => ({CHARTS_JS})().length >= 2", timeout=60_000)
    traces = page.evaluate(CHARTS_JS)
    assert traces[0] == [
        "constant.csv (logged)",
        "constant.csv (fitted)",
        "cosine.csv (logged)",
        "cosine.csv (fitted)",
    ]
    assert "Current design" in traces[1] and "Current design band" in traces[1]
    page.get_by_text("Which ends lower").wait_for()

    page.get_by_role("button", name="Suggest").click()
    page.get_by_text("Lowest predicted final loss:").wait_for(timeout=300_000)
    wait_long(page)
    no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 2600})
    wait_long(page)
    page.screenshot(path=artifacts_dir / "forecast.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})

    best = page.get_by_text("Lowest predicted final loss:").inner_text()
    name = best.split("Lowest predicted final loss: ")[1].split(", ")[0]
    # the suggestion is a design: save it, and later open it
    page.locator(".st-key-forecast_suggestion_save button").click()
    wait_long(page)
    no_exception(page)
    page.get_by_text("to the Library.").first.wait_for()

    # 5. cooldown branches off the constant trunk: the fan, which branch when, open a branch
    page.locator(".st-key-forecast_branch_starts input").fill("1500, 2000")
    page.locator(".st-key-forecast_branch_lengths input").fill("20%")
    page.locator(".st-key-forecast_branch_lengths input").press("Enter")
    wait_long(page)
    page.get_by_role("button", name="Forecast the branches").click()
    page.get_by_text("Which branch when").wait_for(timeout=300_000)
    wait_long(page)
    no_exception(page)
    page.get_by_text("Stopping at step 1,875:").first.wait_for()
    traces = page.evaluate(CHARTS_JS)
    assert any("trunk" in t for t in traces)
    chart = page.locator('[data-testid="stPlotlyChart"]').nth(2)
    chart.scroll_into_view_if_needed()
    wait_long(page)
    page.set_viewport_size({"width": 1400, "height": 1500})
    page.get_by_text("5. Cooldown branches").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts_dir / "forecast_branches.png")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.locator(".st-key-forecast_branch_open button").click()
    wait_long(page)
    no_exception(page)
    page.get_by_text("from Forecast's cooldown branches").first.wait_for()
    branch = page.get_by_role("heading", level=1).first.inner_text()
    assert "cooldown from step 1,500" in branch
    assert name  # the suggestion saved above
