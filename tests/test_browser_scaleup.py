"""The scale-up calculator on the Compare page in a real browser (Debian chromium) against ``streamlit
run``: a new effective batch, every rule side by side, AdamW's timescale drawn, and one rule's design
opened in the Designer.  Saves tests/artifacts/compare_scaleup.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import APP_IDLE_SELECTOR

from schedules import load_config
from schedules.share import encode_design

pytestmark = pytest.mark.browser

ADAMW = {
    "name": "adamw run",
    "optimizer": {"name": "AdamW", "lr": 1e-3, "kwargs": {"betas": [0.9, 0.95], "weight_decay": 0.1}},
    "training": {"dataset_size": 6400, "micro_batch_size": 16, "accumulation_steps": 2, "epochs": 1},
    "warmup": {"steps": 20},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def idle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=120_000)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def test_scale_up_calculator_side_by_side_and_open(page, streamlit_server: str, artifacts_dir: Path) -> None:
    page.set_default_timeout(90_000)  # a loaded shared machine: a click may wait on a busy page
    page.goto(f"{streamlit_server}/compare?design={encode_design(load_config(ADAMW))}")
    page.get_by_text("Scale-up calculator").first.wait_for(timeout=120_000)
    idle(page)
    page.get_by_text("Scale-up calculator").first.click()
    idle(page)
    page.get_by_text("Propose designs for a new batch").click()
    idle(page)
    acc = page.locator(".st-key-compare_rescale_a input")
    acc.fill("8")
    acc.press("Enter")
    idle(page)
    page.get_by_text("Every rule, side by side").wait_for()
    page.get_by_role("tab", name="AdamW timescale kept in epochs").click()
    idle(page)
    page.get_by_text("Design: adamw run (batch 128, timescale rule)").wait_for()
    page.get_by_text("AdamW's timescale tau").first.scroll_into_view_if_needed()
    page.set_viewport_size({"width": 1400, "height": 1700})
    page.get_by_text("Every rule, side by side").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts_dir / "compare_scaleup.png")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.locator(".st-key-compare_rescale_timescale_open button").click()
    idle(page)
    page.get_by_role("heading", name="adamw run (batch 128, timescale rule)").wait_for(timeout=60_000)
    page.get_by_text("from Compare's scale-up calculator").first.wait_for()
