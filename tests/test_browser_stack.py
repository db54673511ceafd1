"""Your stack in a real browser: the overlay, the diagnosis in numbers, the verified fix applied.

Saves the docs/ screenshot (tests/artifacts/stack.png, copied to docs/stack.png).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_browser_designer import chart_data, no_exception

from schedules import load_config
from schedules.share import encode_design

pytestmark = pytest.mark.browser

DESIGN = json.loads((Path(__file__).resolve().parents[1] / "docs" / "stack_design.json").read_text())
OVERLAY = "what accelerate (4 processes) does"


def test_your_stack_diagnosis_and_fix(open_app, wait_for_app, artifacts_dir: Path) -> None:
    page = open_app(f"/?design={encode_design(load_config(DESIGN))}")
    page.set_viewport_size({"width": 1400, "height": 1450})
    wait_for_app(page)
    no_exception(page)
    data = chart_data(page)
    assert len(data["lr"][0]) == 4688
    x, y = data[OVERLAY]
    assert max(y) == pytest.approx(3e-4)
    # the cosine reaches its end at step 1,172 (lr ~0) and, CosineAnnealingLR being periodic past T_max,
    # climbs back up: the last step runs at ~2.9e-4 where the design ends near 0
    assert min(y) < 1e-8
    assert y[-1] == pytest.approx(2.871341226141946e-4, rel=1e-9)
    assert data["lr"][1][-1] < 1e-9
    page.get_by_text(
        "accelerate with 4 processes steps the scheduler 4x per optimizer step: "
        "the schedule reaches its end at step 1,172 of 4,688"
    ).wait_for()
    page.get_by_text("build the scheduler with num_training_steps x 4 (and warmup x 4)").wait_for()
    page.wait_for_timeout(500)  # let the chart finish its first paint
    page.screenshot(path=artifacts_dir / "stack.png")

    page.get_by_role("button", name="Apply fix").click()
    wait_for_app(page)
    page.get_by_text("accelerate (4 processes) reproduces the design").wait_for()
    no_exception(page)
    assert OVERLAY not in chart_data(page)
