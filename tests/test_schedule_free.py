"""Schedule-free optimizers (issue 14): the step size and averaging weights shown equal the
``schedulefree`` package's own optimizer state."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from designer_app import open_sections

schedulefree = pytest.importorskip("schedulefree")


from schedules.train.schedule_free import snippet, trace  # noqa: E402


@pytest.mark.parametrize("cls", ["AdamWScheduleFree", "SGDScheduleFree"])
def test_trace_equals_the_package_state(cls: str) -> None:
    rng = random.Random(1)
    for _ in range(5):
        total, warmup = rng.randint(1, 300), rng.randint(0, 120)
        lr, r, power = rng.choice([1e-3, 0.05, 1.0]), rng.choice([0.0, 0.5]), rng.choice([2.0, 0.0, 1.0])
        p = torch.zeros(3, requires_grad=True)
        opt = getattr(schedulefree, cls)([p], lr=lr, warmup_steps=warmup, r=r, weight_lr_power=power)
        opt.train()
        lrs, sums = [], []
        for _ in range(total):
            p.grad = torch.ones(3)
            opt.step()
            g = opt.param_groups[0]
            lrs.append(g["scheduled_lr"])
            sums.append(g["weight_sum"])
        want = trace(lr, total, warmup, r, power)
        np.testing.assert_allclose(want["lr"], lrs, rtol=1e-12, atol=0)
        np.testing.assert_allclose(np.cumsum(want["weight"]), sums, rtol=1e-12, atol=0)


def test_defaults_average_uniformly_after_warmup() -> None:
    """weight_lr_power 2, r 0, warmup 4: weights lr^2 (k+1)^2/16 then lr^2: c_k = 1 / (k + 1 - 15/8)
    after warmup (the warmup steps count 1/16 + 4/16 + 9/16 + 16/16 = 30/16 = 1.875)."""
    t = trace(0.1, 10, warmup_steps=4)
    assert t["lr"].tolist()[:5] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])
    assert t["averaging"].iloc[0] == 1.0
    k = 6
    assert t["averaging"].iloc[k] == pytest.approx(1 / (1.875 + (k - 3)))


def test_snippet_has_train_and_eval_calls() -> None:
    code = snippet("AdamW", 1e-3, 100, 4, 1000)
    compile(code, "snippet", "exec")
    assert "schedulefree.AdamWScheduleFree(model.parameters(), lr=0.001, warmup_steps=100)" in code
    assert code.index("optimizer.train()") < code.index("optimizer.step()") < code.index("optimizer.eval()")


def test_designer_panel_shows_step_size_and_averaging() -> None:
    from pathlib import Path

    from figure_json import array, spec_of
    from streamlit.testing.v1 import AppTest

    from app import state
    from schedules import load_config

    design = {
        "optimizer": {"name": "AdamW", "lr": 0.01},
        "training": {"dataset_size": 100, "micro_batch_size": 10, "epochs": 3},
        "warmup": {"steps": 4},
    }
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "main.py"), default_timeout=60)
    open_sections(at)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    at.toggle(key="designer_schedule_free_on").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    specs = [spec_of(c) for c in at.get("plotly_chart")]
    [spec] = [s for s in specs if "schedulefree" in str(s["layout"].get("title", {}).get("text", ""))]
    step_size = array(spec["data"][0]["y"])
    assert step_size[:5].tolist() == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01])
    assert len(step_size) == 30
    assert any("optimizer.eval()" in c.value and "AdamWScheduleFree" in c.value for c in at.code)
    at.radio(key="designer_schedule_free_kind").set_value("SGD").run()
    assert any("SGDScheduleFree" in c.value for c in at.code)
