"""The Designer and Compare pages in a real browser (Debian chromium) against ``streamlit run``.

Changes a parameter and sees the chart change, downloads the config JSON and re-imports it to the
identical curve, checks the design survives a reload (``?design=`` link), and saves the docs/
screenshots (tests/artifacts/designer.png, compare.png).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import state
from schedules import load_config
from schedules.share import encode_design

pytestmark = pytest.mark.browser

#: A design that shows most of what the chart draws: two param groups, warmup, a hold, cosine decay,
#: gradient accumulation and epoch lines.
SHOWCASE = {
    "name": "WSD, backbone at 0.1x",
    "optimizer": {
        "name": "AdamW",
        "lr": 6e-4,
        "kwargs": {"weight_decay": 0.1},
        "param_groups": [{"name": "head", "lr_scale": 1.0}, {"name": "backbone", "lr_scale": 0.1}],
    },
    "training": {"dataset_size": 20000, "micro_batch_size": 16, "accumulation_steps": 4, "epochs": 6},
    "warmup": {"ratio": 0.05, "start_factor": 0.0},
    "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 6e-6}, "hold_ratio": 0.5},
}

# plotly.js keeps the figure as sent in ``el.data`` (numpy arrays as base64 "bdata") and the decoded
# typed arrays in ``el._fullData``.
CHART_READY_JS = """() => {
    const el = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    return !!(el && el._fullData && el._fullData.length);
}"""
CHART_DATA_JS = """() => {
    const el = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    return el._fullData.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}));
}"""


EXPORT = state.DESIGNER_SECTIONS["export"][0]


def chart_data(page) -> dict[str, tuple[list, list]]:
    """Every trace drawn by the page's (first) Plotly chart: name -> (x, y)."""
    page.wait_for_function(CHART_READY_JS)
    return {t["name"]: (t["x"], t["y"]) for t in page.evaluate(CHART_DATA_JS)}


def no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert page.get_by_text("Page not found").count() == 0


def set_number(page, wait_for_app, label: str, value: int | float) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page)


def test_designer_change_download_reimport_reload(open_app, wait_for_app, artifacts_dir: Path) -> None:
    page = open_app("/")
    no_exception(page)
    before = chart_data(page)
    x0, y0 = before["lr"]
    assert len(x0) == 4689 and max(y0) == pytest.approx(3e-4)

    # Change a parameter: 2 epochs instead of 3 -> 3126 optimizer steps, and the chart follows.
    set_number(page, wait_for_app, "Epochs", 2)
    no_exception(page)
    changed = chart_data(page)
    assert len(changed["lr"][0]) == 3126
    assert changed["lr"] != before["lr"]

    # Download the config JSON (the Export section is closed on a first visit: nothing of it is drawn).
    assert page.get_by_role("button", name="Config JSON").count() == 0
    page.get_by_text(EXPORT, exact=True).click()
    wait_for_app(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Config JSON").click()
    exported = artifacts_dir / "designer-export.json"
    info.value.save_as(exported)
    config = load_config(json.loads(exported.read_text()))
    assert config.training.epochs == 2

    # Change the design again, then re-import the file: the curve is identical to the exported one.
    set_number(page, wait_for_app, "Micro-batch size (b)", 64)
    assert chart_data(page)["lr"] != changed["lr"]
    page.get_by_text("Import, share & save").click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(exported)
    wait_for_app(page)
    page.get_by_text(f"Loaded {exported.name}").wait_for()
    no_exception(page)
    assert chart_data(page) == changed
    assert page.get_by_label("Micro-batch size (b)", exact=True).input_value() == "32"

    # The design lives in the URL: a reload shows the same curve.
    assert "design=" in page.url
    page.reload()
    wait_for_app(page)
    assert chart_data(page) == changed


def test_screenshots_designer_and_compare(open_app, wait_for_app, artifacts_dir: Path) -> None:
    page = open_app(f"/?design={encode_design(load_config(SHOWCASE))}")
    page.set_viewport_size({"width": 1400, "height": 1000})
    wait_for_app(page)
    no_exception(page)
    data = chart_data(page)
    assert {"lr/backbone", "lr/head"} <= set(data)
    assert max(data["lr/head"][1]) == pytest.approx(6e-4)
    page.wait_for_timeout(500)  # let the chart finish its first paint
    page.screenshot(path=artifacts_dir / "designer.png")

    # Lazy tabs: a snippet is made when its tab is opened, and it is this design's snippet.
    assert page.locator('[data-testid="stCode"]').count() == 0
    page.get_by_text(EXPORT, exact=True).click()
    wait_for_app(page)
    assert page.locator('[data-testid="stCode"]').count() == 0
    page.get_by_role("tab", name="Snippet: plain torch").click()
    wait_for_app(page)
    code = page.locator('[data-testid="stCode"]').first
    code.wait_for()
    assert "optimizer.step()" in code.inner_text() and "scheduler" in code.inner_text()
    page.get_by_role("tab", name="Events").click()
    wait_for_app(page)

    # Save it for Compare, then make the current design differ: no hold (plain warmup + cosine).
    page.get_by_text("Import, share & save").click()
    wait_for_app(page)
    page.get_by_role("button", name="Save", exact=True).click()
    # Wait for the save to be confirmed: a second click that reaches the server before the save's
    # rerun has started replaces it, and the button press is lost (seen in CI on a loaded machine).
    page.get_by_text(f"Saved '{SHOWCASE['name']}' to the Library").wait_for()
    wait_for_app(page)
    page.get_by_text("Decay", exact=True).click()
    wait_for_app(page)
    page.get_by_text("none", exact=True).click()
    wait_for_app(page)
    assert chart_data(page)["lr/head"] != data["lr/head"]

    page.get_by_role("link", name="Compare").click()
    wait_for_app(page)
    page.get_by_text("Compare", exact=True).first.wait_for()
    for label in (
        "scheduler stepped per micro-batch",
        "scheduler stepped before optimizer.step()",
        "accumulation without adjusting warmup/total steps",
    ):
        page.get_by_text(label, exact=True).click()
        wait_for_app(page)
    no_exception(page)
    names = set(chart_data(page))
    assert "Current design: scheduler stepped per micro-batch" in names
    assert "WSD, backbone at 0.1x" in names  # the design saved on the Designer
    page.set_viewport_size({"width": 1400, "height": 1150})
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts_dir / "compare.png")
