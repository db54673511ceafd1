"""The Live page's gradient-noise-scale chart and sentence, through the real app with AppTest (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

from figure_json import array
from streamlit.testing.v1 import AppTest

from schedules import load_config

APP = Path(__file__).resolve().parents[1] / "app" / "main.py"

#: 16 x 4 = 64 per optimizer step: every setting accumulates, so each records the noise scale.
DESIGN = {
    "name": "accumulating design",
    "optimizer": {"name": "SGD", "lr": 0.05},
    "training": {"dataset_size": 4000, "micro_batch_size": 16, "accumulation_steps": 4, "epochs": 1},
}


def test_noise_scale_chart_and_sentence() -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["design_json"] = load_config(DESIGN).to_json()
    at.run()
    at.switch_page("views/live.py").run()
    at.number_input(key="live_steps").set_value(30)
    at.button(key="live_start").click().run()
    assert at.session_state["live_run"].join(60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    [noise] = [s for s in specs if "noise scale" in s["layout"]["title"]["text"]]
    assert noise["data"] and (array(noise["data"][0]["y"]) > 0).all()
    [sentence] = [m.value for m in at.markdown if "Gradient noise scale B_simple" in m.value]
    assert "the effective batch 64 is" in sentence and "McCandlish et al. 2018" in sentence
    frame = at.session_state["live_run"].snapshot().frames
    assert any(f["noise_scale"].notna().any() for f in frame.values())
