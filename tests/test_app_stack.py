"""Your stack on the Designer and Compare pages, driven through the real app with AppTest."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from designer_app import open_sections
from figure_json import spec_of
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")

#: 100 samples, micro-batch 10, 2 processes, 3 epochs: 5 steps per epoch, T = 15; warmup 10 steps from 0.
STACKED = {
    "name": "small on 2 processes",
    "optimizer": {"name": "SGD", "lr": 1e-3},
    "training": {"dataset_size": 100, "micro_batch_size": 10, "world_size": 2, "epochs": 3},
    "warmup": {"steps": 10},
    "stack": {"name": "accelerate"},
}


def start(design: dict) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=90)
    open_sections(at)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def traces(at: AppTest) -> dict[str, dict]:
    return {t.get("name"): t for t in spec_of(at.get("plotly_chart")[0])["data"]}


def test_designer_shows_what_accelerate_does_and_the_verified_fix() -> None:
    at = start(STACKED)
    no_exception(at)
    warning = " ".join(w.value for w in at.warning)
    assert (
        "accelerate with 2 processes steps the scheduler 2x per optimizer step: "
        "the schedule reaches its end at step 7 of 15" in warning
    )
    info = " ".join(i.value for i in at.info)
    assert (
        "**Fix:** hand the design to accelerate as DesignScheduler(optimizer, config, scale=2): one design "
        "step every 2 scheduler calls" in info
    )
    assert "at every one of the 15 optimizer steps" in info
    overlay = traces(at)["what accelerate (2 processes) does"]
    # warmup 0 -> 1e-3 over 10 steps, stepped twice per optimizer step: 0, 2e-4, 4e-4, ... 1e-3 from step 5
    from figure_json import array

    assert array(overlay["y"])[:7] == pytest.approx([0, 2e-4, 4e-4, 6e-4, 8e-4, 1e-3, 1e-3])

    at.button(key="designer_apply_stack_fix").click().run()
    no_exception(at)
    assert load_config(at.session_state[state.DESIGN_JSON]).stack.step_every == 2
    assert any("accelerate (2 processes) reproduces the design" in s.value for s in at.success)
    assert "what accelerate (2 processes) does" not in traces(at)


def test_switching_the_stack_on_in_the_designer() -> None:
    design = {k: v for k, v in STACKED.items() if k != "stack"}
    at = start(design)
    no_exception(at)
    assert not any("Your stack" == s.value for s in at.subheader)
    at.toggle(key=state.key("stack.on")).set_value(True).run()
    at.selectbox(key=state.key("stack.name")).set_value("lightning").run()
    no_exception(at)
    assert load_config(at.session_state[state.DESIGN_JSON]).stack.name == "lightning"
    warning = " ".join(w.value for w in at.warning)
    assert (
        "Lightning with interval='epoch' steps the scheduler once per epoch (3 times in 15 optimizer steps)"
        in (warning)
    )
    assert "return the scheduler with 'interval': 'step', 'frequency': 1" in " ".join(
        i.value for i in at.info
    )


def test_compare_overlays_several_stacks_of_one_design() -> None:
    at = start(STACKED)
    at.switch_page("views/compare.py").run()
    no_exception(at)
    at.multiselect(key="compare_stacks").set_value(["hf", "accelerate", "lightning"]).run()
    no_exception(at)
    names = list(traces(at))
    for stack in ("HF Trainer", "accelerate (2 processes)", "Lightning"):
        assert f"Current design: what {stack} does" in names
    from figure_json import array

    acc = traces(at)["Current design: what accelerate (2 processes) does"]
    assert array(acc["y"])[:3] == pytest.approx([0, 2e-4, 4e-4])
    assert any("**HF Trainer**: HF Trainer reproduces the design" in s.value for s in at.success)
    assert any("accelerate with 2 processes steps the scheduler 2x" in w.value for w in at.warning)


def test_your_stack_draws_the_scheduler_built_for_n_times_the_steps_stretched() -> None:
    """Issue 28: "scheduler built for steps x 3" draws the design built for 3 x T, as the real libraries
    stretch it (a warmup ratio stretches with it), not a staircase."""
    design = {
        "name": "cosine, warmup ratio",
        "optimizer": {"name": "SGD", "lr": 1e-3},
        # 100 samples, micro-batch 10, 2 processes: 5 steps per epoch, 3 epochs: T = 15; warmup ceil(0.2 x 15) = 3
        "training": {"dataset_size": 100, "micro_batch_size": 10, "world_size": 2, "epochs": 3},
        "warmup": {"ratio": 0.2},
        "decay": {"scheduler": "CosineAnnealingLR"},
        "stack": {"name": "hf"},
    }
    at = start(design)
    no_exception(at)
    assert any("HF Trainer reproduces the design" in s.value for s in at.success)
    at.number_input(key=state.key("stack.scheduler_scale")).set_value(3).run()
    no_exception(at)
    assert load_config(at.session_state[state.DESIGN_JSON]).stack.scheduler_scale == 3
    warning = " ".join(w.value for w in at.warning)
    assert "its warmup, given as a ratio, stretches with it: ceil(0.2 x 45) = 9 steps instead of 3" in warning
    from figure_json import array

    y = array(traces(at)["what HF Trainer does"]["y"])
    # built for 45 steps: warmup 9 steps from 0, then CosineAnnealingLR over 36, read at steps 0..14
    want = [1e-3 * (k / 9 if k < 9 else 0.5 * (1 + math.cos(math.pi * (k - 9) / 36))) for k in range(15)]
    assert y == pytest.approx(want, rel=1e-12, abs=1e-18)
    assert "Fix:** build the scheduler with num_training_steps (the optimizer steps of the run)" in " ".join(
        i.value for i in at.info
    )


def test_your_stack_lightning_plateau_inside_or_as_a_monitor_config() -> None:
    """Issue 28: a plateau design through Lightning with interval 'step' is reproduced when the plateau
    goes inside the one scheduler (the default, as the studio's Lightning export hands it); the
    separate-monitor form (frequency 3 counts batch_idx within each epoch of 10) steps the plateau 9
    times instead of 10, and the verified fix puts it back inside."""
    design = {
        "name": "plateau every 3 steps over epochs of 10",
        "optimizer": {"name": "SGD", "lr": 0.1},
        "training": {"dataset_size": 10, "micro_batch_size": 1, "epochs": 3},
        "plateau": {"factor": 0.5, "patience": 0, "eval_every": 3, "metric": {"values": [1.0] * 10}},
        "stack": {"name": "lightning", "lightning_interval": "step"},
    }
    at = start(design)
    no_exception(at)
    assert any("Lightning reproduces the design" in s.value for s in at.success)
    at.selectbox(key=state.key("stack.lightning_plateau")).set_value("monitor").run()
    no_exception(at)
    assert load_config(at.session_state[state.DESIGN_JSON]).stack.lightning_plateau == "monitor"
    warning = " ".join(w.value for w in at.warning)
    assert "steps the ReduceLROnPlateau 9 times" in warning and "evaluates 10 times" in warning
    from figure_json import array

    # design: halved after the evaluations at steps 5, 8, 11 (patience 0, never improving); Lightning's
    # monitor config: after 5, 8, then 12 (batch_idx restarts at the epoch boundary)
    y = array(traces(at)["what Lightning does"]["y"])
    assert y[12] == pytest.approx(0.1 * 0.5**2, rel=1e-12) and y[13] == pytest.approx(0.1 * 0.5**3, rel=1e-12)
    assert "**Fix:** hand the whole design to Lightning as one scheduler, its plateau inside" in " ".join(
        i.value for i in at.info
    )
    at.button(key="designer_apply_stack_fix").click().run()
    no_exception(at)
    assert load_config(at.session_state[state.DESIGN_JSON]).stack.lightning_plateau == "inside"
    assert any("Lightning reproduces the design" in s.value for s in at.success)
