"""The Compare page driven through the real app with AppTest: saved designs, accumulation settings,
the mistake traces and the table of differences."""

from __future__ import annotations

from pathlib import Path

import pytest
from designer_app import open_sections
from figure_json import spec_of, trace, xy, y_at
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config
from schedules.mistakes import MISTAKES

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")

#: lr 1, 32 samples in micro-batches of 4, 2 epochs; warmup 4 steps from 0, then constant.
SMALL = {
    "name": "small",
    "optimizer": {"name": "SGD", "lr": 1.0},
    "training": {"dataset_size": 32, "micro_batch_size": 4, "accumulation_steps": 1, "epochs": 2},
    "warmup": {"steps": 4},
}


def compare_page(design: dict = SMALL) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    open_sections(at)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_saved_designs_overlay_with_diff_table() -> None:
    at = AppTest.from_file(MAIN, default_timeout=60)
    open_sections(at)
    at.session_state[state.DESIGN_JSON] = load_config(SMALL).to_json()
    at.run()
    at.text_input(key=state.SAVE_NAME_KEY).input("warmup 4").run()
    [save] = [b for b in at.button if b.label == "Save"]
    save.click().run()
    assert "warmup 4" in at.session_state[state.SAVED_DESIGNS]
    at.number_input(key="w.warmup.steps").set_value(8).run()
    at.switch_page("views/compare.py").run()
    assert not at.exception

    assert at.multiselect(key="compare_designs").value == ["Current design", "warmup 4"]
    spec = spec_of(at.get("plotly_chart")[0])
    # Shared samples axis: step k has consumed 4 (k + 1) samples.
    assert y_at(spec, "warmup 4", 12) == pytest.approx(0.5)  # step 2 of a 4-step warmup
    assert y_at(spec, "Current design", 12) == pytest.approx(0.25)  # step 2 of an 8-step warmup
    diff = at.dataframe[0].value
    assert diff["parameter"].tolist() == ["warmup.steps", "= warmup_steps"]
    assert diff.iloc[0].tolist() == ["warmup.steps", "8", "4"]


def test_accumulation_settings_and_mistake_traces() -> None:
    at = compare_page()
    at.multiselect(key="compare_accumulations").set_value([4]).run()
    for kind in MISTAKES:
        at.checkbox(key=f"compare_mistakes.{kind}").check()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    spec = spec_of(at.get("plotly_chart")[0])
    variant = "Current design · A=4 (b=1)"  # effective batch kept: 4 micro-batches of 1
    names = [t["name"] for t in spec["data"]]
    assert names == [
        "Current design",
        variant,
        f"{variant}: scheduler stepped per micro-batch",
        f"{variant}: scheduler stepped before optimizer.step()",
        f"{variant}: accumulation without adjusting warmup/total steps",
    ]
    # Same effective batch, same samples per step: the correct curves coincide.
    assert xy(spec, variant)[1].tolist() == xy(spec, "Current design")[1].tolist()
    # Per micro-batch: 3 scheduler steps before the first optimizer step (at 4 samples), 7 before the second.
    assert y_at(spec, f"{variant}: scheduler stepped per micro-batch", 4) == pytest.approx(0.75)
    assert y_at(spec, f"{variant}: scheduler stepped per micro-batch", 8) == pytest.approx(1.0)
    assert y_at(spec, f"{variant}: scheduler stepped before optimizer.step()", 4) == pytest.approx(0.25)
    assert trace(spec, f"{variant}: scheduler stepped per micro-batch")["line"]["dash"] == "dash"
    diff = at.dataframe[0].value
    assert set(diff["parameter"]) == {"training.micro_batch_size", "training.accumulation_steps"}


def test_keep_micro_batch_grows_the_effective_batch_and_presets_compare() -> None:
    at = compare_page()
    at.multiselect(key="compare_accumulations").set_value([2]).run()
    at.radio(key="compare_keep").set_value("micro_batch").run()
    at.multiselect(key="compare_designs").set_value(["Current design", "Preset: Cosine with warmup"]).run()
    assert not at.exception
    names = [t["name"] for t in spec_of(at.get("plotly_chart")[0])["data"]]
    assert names == ["Current design", "Preset: Cosine with warmup", "Current design · A=2 (b=4)"]
    summary = at.dataframe[1].value
    assert summary.set_index("design").loc["Current design · A=2 (b=4)", "effective batch"] == 8
    assert summary.set_index("design").loc["Current design · A=2 (b=4)", "total steps"] == 8


def test_accumulation_that_does_not_divide_warns() -> None:
    at = compare_page({**SMALL, "training": {**SMALL["training"], "micro_batch_size": 6}})
    at.multiselect(key="compare_accumulations").set_value([4]).run()
    assert not at.exception
    assert "must divide the per-rank batch 6" in at.warning[0].value


def test_resume_traces_with_the_step_as_a_widget() -> None:
    at = compare_page()  # 16 steps, warmup 4 from 0, then constant 1.0
    at.checkbox(key="compare_mistakes.resume_fresh").check()
    at.checkbox(key="compare_mistakes.resume_wrong_order").check()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="compare_resume_at").value == 8  # half way by default
    at.number_input(key="compare_resume_at").set_value(6).run()
    assert not at.exception, [e.value for e in at.exception]
    spec = spec_of(at.get("plotly_chart")[0])
    fresh = "Current design: resumed with a freshly built scheduler at step 6"
    wrong = "Current design: resumed with the wrong restore order at step 6"
    assert [t["name"] for t in spec["data"]] == ["Current design", fresh, wrong]
    # Step k has consumed 4 (k + 1) samples. A fresh scheduler: row 6 keeps the optimizer's restored lr
    # (1.0), then the warmup runs again: 0.25, 0.5, 0.75, 1.0 at steps 7..10.
    assert [y_at(spec, fresh, 4 * (k + 1)) for k in range(5, 12)] == [1.0, 1.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    # Wrong order with torch's schedulers: the warmup's constructor sets lr 0 and the chainable constant
    # phase after it keeps 0 to the end.
    assert [y_at(spec, wrong, 4 * (k + 1)) for k in (5, 6, 7, 15)] == [1.0, 0.0, 0.0, 0.0]
    assert trace(spec, fresh)["line"]["dash"] == "longdash"
    # A bound from the design: N is at most 15.
    assert at.number_input(key="compare_resume_at").max == 15


def test_identical_curves_are_said_identical_and_dashed() -> None:
    """A=1 x b=4 and A=2 x b=2 keep the effective batch: the same lrs at the same samples, so the three
    curves (the design and its two accumulation settings) draw one line; the page says so and dashes
    the later ones so each shows."""
    at = compare_page()
    at.multiselect(key="compare_accumulations").set_value([1, 2]).run()
    assert not at.exception, [e.value for e in at.exception]
    [info] = [i.value for i in at.info if "Identical curves" in i.value]
    assert info == (
        "Identical curves, drawn on top of each other (the later ones dashed so each shows): *Current design* = "
        "*Current design · A=1 (b=4)* = *Current design · A=2 (b=2)*"
    )
    spec = spec_of(at.get("plotly_chart")[0])
    dashes = [trace(spec, name)["line"]["dash"] for name in ("Current design", "Current design · A=1 (b=4)")]
    assert dashes == ["solid", "dash"]


def test_lr_per_sample_and_the_assistant_hint_when_the_batch_changes_but_not_the_lr() -> None:
    """Keeping the micro-batch, accumulation 4 makes the effective batch 16 with the same lr 1: the page
    points to the scale-up calculator, whose button sets it up for that change (SGD: linear rule, lr 4)."""
    at = compare_page({**SMALL, "training": {**SMALL["training"], "dataset_size": 64}})  # A=4: 4 steps/epoch
    at.radio(key="compare_keep").set_value("micro_batch").run()
    at.multiselect(key="compare_accumulations").set_value([4]).run()
    rows = {r["design"]: r for r in at.dataframe[-1].value.to_dict("records")}
    assert rows["Current design"]["peak lr / sample"] == pytest.approx(1.0 / 4)  # peak 1 / batch 4
    assert rows["Current design · A=4 (b=4)"]["peak lr / sample"] == pytest.approx(1.0 / 16)
    [hint] = [i.value for i in at.info if "scale-up calculator" in i.value]
    assert "have different effective batches (4 and 16) but the same peak lr (1)" in hint
    at.button(key="compare_ask_assistant").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.toggle(key="compare_rescale_on").value is True
    assert at.selectbox(key="compare_rescale_design").value == "Current design"
    assert at.number_input(key="compare_rescale_a").value == 4
    proposal = [n for n in (t["name"] for t in spec_of(at.get("plotly_chart")[0])["data"]) if "rule" in n]
    assert proposal == ["Current design · batch 16 (linear rule)"]
    # the proposal: lr 1 x 16/4 = 4; warmup 4 steps x 4/16 = 1 step: at the peak from its 2nd step (32 samples)
    assert y_at(spec_of(at.get("plotly_chart")[0]), proposal[0], 32) == pytest.approx(4.0)
