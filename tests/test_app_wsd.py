"""The Designer's WSD section driven through the real app (``app/main.py``) with AppTest (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from designer_app import open_sections
from figure_json import array, spec_of, trace, y_at
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")

#: 30 optimizer steps (100 samples, micro-batch 10, 3 epochs), SGD at 1e-3, warmup 10 steps.
SMALL = {
    "name": "small",
    "optimizer": {"name": "SGD", "lr": 1e-3},
    "training": {"dataset_size": 100, "micro_batch_size": 10, "epochs": 3},
    "warmup": {"steps": 10},
}


def start(design: dict) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    open_sections(at)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_wsd_controls_build_the_design() -> None:
    at = start(SMALL)
    at.toggle(key="w.wsd.on").set_value(True).run()
    no_exception(at)
    at.radio(key="w.wsd.warmup_mode").set_value("steps").run()
    at.number_input(key="w.wsd.warmup_steps").set_value(5).run()
    at.radio(key="w.wsd.decay_mode").set_value("steps").run()
    at.number_input(key="w.wsd.decay_steps").set_value(10).run()
    at.selectbox(key="w.wsd.decay_type").set_value("linear").run()
    at.number_input(key="w.wsd.min_lr_ratio").set_value(0.1).run()
    no_exception(at)
    cfg = load_config(at.session_state[state.DESIGN_JSON])
    assert cfg.warmup is None and cfg.decay is None
    assert (cfg.wsd.warmup_steps, cfg.wsd.decay_steps, cfg.wsd.decay_type) == (5, 10, "linear")
    spec = spec_of(at.get("plotly_chart")[0])
    # warmup from min_lr_ratio: 0.1 + 0.9 * 2/5 at step 2; stable 5..19; decay 20..29 to 0.1.
    assert y_at(spec, "lr", 2) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.4))
    assert y_at(spec, "lr", 12) == pytest.approx(1e-3)
    assert y_at(spec, "lr", 25) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert array(trace(spec, "warmup end")["x"]).tolist() == [5]

    at.selectbox(key="w.wsd.decay_type").set_value("1-sqrt").run()
    at.selectbox(key="w.wsd.warmup_type").set_value("cosine").run()
    at.toggle(key="w.wsd.warmup_start_set").set_value(True).run()
    at.number_input(key="w.wsd.warmup_start").set_value(0.0).run()
    spec = spec_of(at.get("plotly_chart")[0])
    assert y_at(spec, "lr", 25) == pytest.approx(1e-3 * (0.1 + 0.9 * (1 - 0.5**0.5)))
    assert y_at(spec, "lr", 1) == pytest.approx(1e-3 * 0.5 * (1 - 0.8090169943749475))  # 1 - cos(pi/5)

    at.toggle(key="w.wsd.on").set_value(False).run()
    cfg = load_config(at.session_state[state.DESIGN_JSON])
    assert cfg.wsd is None and cfg.warmup is not None and cfg.warmup.steps == 10


def test_wsd_too_long_decay_is_a_message_not_a_traceback() -> None:
    at = start(SMALL)
    at.toggle(key="w.wsd.on").set_value(True).run()
    at.radio(key="w.wsd.decay_mode").set_value("steps").run()
    at.number_input(key="w.wsd.decay_steps").set_value(40).run()
    no_exception(at)
    text = " ".join(e.value for e in at.error)
    assert "wsd.decay_steps" in text and "<= the total steps (30)" in text


def test_wsd_preset_applies() -> None:
    at = start(SMALL)
    at.selectbox(key=state.PRESET_KEY).set_value("wsd_1-sqrt").run()
    buttons = [b for b in at.button if b.label == "Apply preset"]
    buttons[0].click().run()
    no_exception(at)
    cfg = load_config(at.session_state[state.DESIGN_JSON])
    assert cfg.wsd is not None and cfg.wsd.decay_type == "1-sqrt"
    assert at.toggle(key="w.wsd.on").value is True


def test_wsd_lengths_as_fractions_and_an_explicit_stable_phase() -> None:
    """Warmup and decay as fractions of the 30 steps, the stable length set: warmup ceil(0.1 x 30) = 3,
    stable 10, decay ceil(0.2 x 30) = 6 (rows 13..18, linear to 0.2), then the floor."""
    at = start(SMALL)
    at.toggle(key="w.wsd.on").set_value(True).run()
    at.radio(key="w.wsd.warmup_mode").set_value("ratio").run()
    at.number_input(key="w.wsd.warmup_ratio").set_value(0.1).run()
    at.radio(key="w.wsd.decay_mode").set_value("ratio").run()
    at.number_input(key="w.wsd.decay_ratio").set_value(0.2).run()
    at.selectbox(key="w.wsd.decay_type").set_value("linear").run()
    at.number_input(key="w.wsd.min_lr_ratio").set_value(0.2).run()
    at.toggle(key="w.wsd.stable_set").set_value(True).run()
    at.number_input(key="w.wsd.stable_steps").set_value(10).run()
    no_exception(at)
    cfg = load_config(at.session_state[state.DESIGN_JSON])
    ws = cfg.wsd
    assert (ws.warmup_ratio, ws.warmup_steps, ws.decay_ratio, ws.decay_steps) == (0.1, None, 0.2, None)
    assert (ws.stable_steps, ws.min_lr_ratio, ws.lengths(30)) == (10, 0.2, (3, 10, 6))
    spec = spec_of(at.get("plotly_chart")[0])
    assert y_at(spec, "lr", 1) == pytest.approx(1e-3 * (0.2 + 0.8 / 3))
    assert y_at(spec, "lr", 12) == pytest.approx(1e-3)
    assert y_at(spec, "lr", 16) == pytest.approx(1e-3 * 0.6)  # p = 3/6
    assert y_at(spec, "lr", 25) == pytest.approx(1e-3 * 0.2)
