"""Your stack in a real browser: the overlay, the diagnosis in numbers, the verified fix applied.

Saves the docs/ screenshots (tests/artifacts/stack.png and stack_stretched.png, copied to docs/).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_browser_designer import chart_data, no_exception, set_number

from schedules import load_config
from schedules.share import encode_design
from schedules.stacks import stack_curve

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
    page.get_by_text(
        "hand the design to accelerate as DesignScheduler(optimizer, config, scale=4): one design step every 4"
    ).wait_for()
    page.wait_for_timeout(500)  # let the chart finish its first paint
    page.screenshot(path=artifacts_dir / "stack.png")

    page.get_by_role("button", name="Apply fix").click()
    wait_for_app(page)
    page.get_by_text("accelerate (4 processes) reproduces the design").wait_for()
    no_exception(page)
    assert OVERLAY not in chart_data(page)

    # a scheduler built for 2 x the steps (issue 28): the chart draws the design stretched 2-fold (its
    # 200 warmup steps given in steps do not stretch), not a staircase
    set_number(page, wait_for_app, "scheduler built for steps x", 2)
    no_exception(page)
    page.get_by_text("its warmup of 200 steps does not stretch (given in steps)").first.wait_for()
    # DesignScheduler(scale=4) is already there: the verified fix is the scheduler's size alone
    page.get_by_text(
        "build the scheduler with num_training_steps (the optimizer steps of the run)"
    ).wait_for()
    fixed = load_config({**DESIGN, "stack": {"name": "accelerate", "step_every": 4, "scheduler_scale": 2}})
    want = stack_curve(fixed, fixed.stack).frame["lr"].to_numpy()
    _, y = chart_data(page)[OVERLAY]
    assert len(y) == 4688
    assert np.allclose(y, want, rtol=1e-9, atol=0)
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts_dir / "stack_stretched.png")
