"""Issue 14's controls in a real browser (Debian chromium) against ``streamlit run``: the Designer's WSD
section and schedule-free panel, the Compare page's batch-size assistant, and a schedule-free Live run.
Every number checked is computed here from the library (``lr_curve``, ``schedule_free.trace``)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from schedules import load_config, lr_curve
from schedules.share import encode_design
from schedules.train.schedule_free import trace

pytestmark = pytest.mark.browser

#: 30 optimizer steps (100 samples, micro-batch 10, 3 epochs), SGD at 1e-3.
DESIGN = {
    "name": "modern",
    "optimizer": {"name": "SGD", "lr": 1e-3},
    "training": {"dataset_size": 100, "micro_batch_size": 10, "epochs": 3},
    "warmup": {"steps": 10},
}
#: What the WSD section gives after the clicks below (its defaults: warmup ratio 0.05, decay ratio 0.2).
WSD = {
    **DESIGN,
    "warmup": None,
    "wsd": {"warmup_ratio": 0.05, "decay_ratio": 0.2, "decay_type": "1-sqrt", "min_lr_ratio": 0.1},
}

CHART_JS = """(title) => {
    const els = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')];
    const el = els.find(e => e._fullLayout && e._fullData && e._fullData.length
        && String((e._fullLayout.title || {}).text || '').includes(title));
    if (!el) return null;
    return el._fullData.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}));
}"""
FIRST_CHART_JS = """() => {
    const el = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    if (!el || !el._fullData || !el._fullData.length) return null;
    return el._fullData.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}));
}"""


def chart(page, title: str | None = None, timeout_ms: int = 60_000) -> dict[str, tuple[list, list]]:
    """The traces (name -> (x, y)) of the chart whose title contains ``title`` (else the first chart)."""
    if title is None:
        handle = page.wait_for_function(FIRST_CHART_JS, timeout=timeout_ms)
    else:
        handle = page.wait_for_function(CHART_JS, arg=title, timeout=timeout_ms)
    return {t["name"]: (t["x"], t["y"]) for t in handle.json_value()}


def no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


FIRST_LR_JS = """() => {
    const el = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    return el && el._fullData && el._fullData.length ? Array.from(el._fullData[0].y || []).join(',') : null;
}"""


def changes_the_chart(page, wait_for_app, act) -> None:
    """Do ``act()`` and wait until the first chart's lr trace differs, then for the run to finish: a
    fixed pause cannot tell that a rerun has not started yet on a loaded machine."""
    before = page.evaluate(FIRST_LR_JS)
    act()
    try:
        page.wait_for_function(f"(before) => ({FIRST_LR_JS})() !== before", arg=before, timeout=60_000)
    except Exception as exc:  # say what the page shows, for a failure that is not reproduced at will
        shown = {
            "open sections": page.locator(
                '[data-testid="stExpander"] details[open] summary'
            ).all_inner_texts(),
            "inputs": {
                i.get_attribute("aria-label"): i.input_value() for i in page.locator("input").all()[:40]
            },
            "script": page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state"),
        }
        raise AssertionError(f"the chart did not change: {shown}") from exc
    wait_for_app(page)


def set_number(page, wait_for_app, label: str, value: float) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page)


def test_wsd_schedule_free_and_rescale_controls(open_app, wait_for_app) -> None:
    page = open_app(f"/?design={encode_design(load_config(DESIGN))}")
    page.set_viewport_size({"width": 1400, "height": 1200})
    no_exception(page)

    # Designer: WSD on, 1-sqrt cooldown to 0.1 of the peak.
    # Each step waits for what it changes (the section's content, then the curve), not a fixed pause.
    page.get_by_text("Warmup-stable-decay (WSD)").click()
    page.get_by_text("Use a WSD design").wait_for()
    wait_for_app(page)
    changes_the_chart(page, wait_for_app, page.get_by_text("Use a WSD design").click)

    def one_minus_sqrt() -> None:
        page.get_by_role("combobox", name=re.compile("Decay shape")).click()
        page.get_by_role("option", name="1-sqrt").click()

    changes_the_chart(page, wait_for_app, one_minus_sqrt)
    changes_the_chart(page, wait_for_app, lambda: set_number(page, wait_for_app, "min_lr_ratio", 0.1))
    no_exception(page)
    want = lr_curve(load_config(WSD))["lr"].to_numpy()
    assert want[-1] == pytest.approx(1e-3 * (0.1 + 0.9 * (1 - (5 / 6) ** 0.5)))  # p = 5/6 on the last row
    page.wait_for_function(
        "(n) => { const el = document.querySelector('[data-testid=\"stPlotlyChart\"] .js-plotly-plot');"
        " return el && el._fullData && el._fullData.length && Math.abs(el._fullData[0].y[29] - n) < 1e-12; }",
        arg=float(want[-1]),
        timeout=60_000,
    )
    np.testing.assert_allclose(chart(page)["lr"][1], want, rtol=1e-9)

    # Designer: the schedule-free panel shows the step size (warmup ceil(0.05 x 30) = 2 steps) and the
    # loop with train()/eval(), for SGD too.
    page.get_by_text("Schedule-free AdamW / SGD: no decay to design").click()
    wait_for_app(page)
    page.get_by_text("Show what schedule-free does instead").click()
    wait_for_app(page)
    sf = chart(page, "schedulefree.AdamWScheduleFree: 30 steps")
    expected = trace(1e-3, 30, warmup_steps=2)
    np.testing.assert_allclose(sf["step size (lr x warmup)"][1], expected["lr"], rtol=1e-12)
    np.testing.assert_allclose(sf["averaging weight c_k"][1], expected["averaging"], rtol=1e-9)
    page.locator('[data-testid="stRadio"]', has_text="AdamW").get_by_text("SGD", exact=True).click()
    wait_for_app(page)
    code = page.locator('[data-testid="stCode"]', has_text="SGDScheduleFree")
    code.first.wait_for()
    assert "optimizer.eval()" in code.first.inner_text() and "optimizer.train()" in code.first.inner_text()
    no_exception(page)

    # Compare: the scale-up calculator, accumulation 4 -> effective batch 40, linear rule for SGD.
    page.get_by_role("link", name="Compare").click()
    wait_for_app(page)
    page.get_by_text("Scale-up calculator: the design for a new effective batch, under each rule").click()
    page.get_by_text("Propose designs for a new batch").click()
    wait_for_app(page)
    box = page.get_by_label("Accumulation", exact=True)
    box.wait_for()  # drawn by the rerun the toggle started (wait_for_app can return before it starts)
    assert box.count() == 1 and box.input_value() == "1"  # starts from the design's own batch
    box.fill("4")
    box.press("Enter")
    wait_for_app(page)
    no_exception(page)
    page.locator('[data-testid="stMetric"]', has_text="Peak lr").filter(has_text="4.000e-03").wait_for()
    assert "40" in page.locator('[data-testid="stMetric"]', has_text="Effective batch").first.inner_text()
    assert page.get_by_text("Goyal et al. 2017", exact=False).count() >= 1

    # Live run: schedule-free AdamW on the (WSD) design's lr and warmup.
    page.get_by_role("link", name="Live run").click()
    wait_for_app(page)
    page.get_by_text("Schedule-free AdamW (schedulefree.AdamWScheduleFree)").click()
    wait_for_app(page)
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_text("Download run as CSV").wait_for(timeout=180_000)  # shown once the run is done
    wait_for_app(page)
    no_exception(page)
    live = chart(page, "Schedule-free: step size and averaging weight")
    [name] = [n for n in live if n.endswith("design: step size")]
    np.testing.assert_allclose(live[name][1], expected["lr"], rtol=1e-12)
    [name] = [n for n in live if n.endswith("design: averaging weight c_k")]
    np.testing.assert_allclose(live[name][1], expected["averaging"], rtol=1e-9)
