"""The Designer says when a design is nonsense (the same warnings as ``python -m schedules validate``),
notes a plateau cut the decay undoes, offers the cosine floor as a ratio of the peak, and explains the
steps per epoch with the numbers: driven through the real app with AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from designer_app import open_sections, summary_html
from streamlit.testing.v1 import AppTest

from app import state
from schedules import compute_curve, load_config
from schedules.curve import plateau_rise_note
from schedules.design import sanity_warnings

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
K = state.key


def start(design: dict | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=90)
    open_sections(at)
    if design is not None:
        at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def design(at: AppTest):
    return load_config(at.session_state[state.DESIGN_JSON])


def sanity_boxes(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("**Valid, but probably not what you meant:**")]


def test_the_designer_shows_validates_warnings_above_the_chart_and_drops_them_when_fixed() -> None:
    at = start()
    assert sanity_boxes(at) == []  # the default design (the cosine preset) never warns
    at.radio(key=K("warmup.mode")).set_value("steps").run()
    at.number_input(key=K("warmup.steps")).set_value(5000).run()  # 3 epochs x 1,563 = 4,689 steps
    [box] = sanity_boxes(at)
    [warning] = sanity_warnings(design(at))
    assert warning.path == "warmup.steps"
    assert box.splitlines()[1].startswith(
        "- `warmup.steps`: the warmup (5,000 optimizer steps) is as long as"
    )
    # above the chart: the box comes before the summary card and the plotly chart in the right column
    order = [
        type(e).__name__ for e in _walk(at.main) if type(e).__name__ in ("Warning", "Html", "UnknownElement")
    ]
    assert order.index("Warning") < order.index("Html") < order.index("UnknownElement")
    at.number_input(key=K("warmup.steps")).set_value(100).run()
    assert sanity_boxes(at) == []


def _walk(node):
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _walk(child)


def test_several_warnings_and_a_group_name_shown_as_text() -> None:
    at = start(
        {
            "name": "groups",
            "optimizer": {"param_groups": [{"name": "*bold* [x](y)", "lr_scale": 0.1}, {"name": "head"}]},
            "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-4}},
            "plateau": {"mode": "max"},
        }
    )
    [box] = sanity_boxes(at)
    lines = box.splitlines()[1:]
    assert [line.split("`")[1] for line in lines] == ["plateau.mode", "decay.kwargs.eta_min"]
    assert "param group '\\*bold\\* \\[x\\](y)'" in lines[1]  # escaped: shown as typed, not as Markdown


def test_a_note_under_plateau_when_the_decay_pulls_a_cut_lr_back_up() -> None:
    cut_up = {
        "training": {"dataset_size": 100, "micro_batch_size": 10, "epochs": 30},
        "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-4}},
        "plateau": {"patience": 1, "factor": 0.1},
    }
    curve = compute_curve(cut_up)
    # lr 3e-4, 10 steps per epoch: the first cut at step 90 takes the lr to 0.1 x 2.588e-4 = 2.588e-5,
    # under eta_min 1e-4; CosineAnnealingLR's recursive form moves it toward eta_min, up, until the
    # next cut at step 110.
    [first, *_] = [e for e in curve.events if e.kind == "plateau_reduction"]
    assert first.step == 90 and first.data["lr_after"] == pytest.approx(2.5878e-5, rel=1e-4)
    note = plateau_rise_note(curve)
    assert note.startswith("The lr rises after the cut at step 90: from 2.59e-5 to 3.39e-5 by step 109")
    assert curve.lrs[109, 0] > curve.lrs[90, 0]
    at = start(cut_up)
    [shown] = [w.value for w in at.warning if "rises after the cut" in w.value]
    assert "eta_min (1e-4) is above the cut lr" in shown
    # eta_min 0: the cut stays cut, no note
    at.number_input(key=state.decay_key("CosineAnnealingLR", "eta_min")).set_value(0.0).run()
    assert not [w for w in at.warning if "rises after the cut" in w.value]
    assert plateau_rise_note(compute_curve(design(at))) is None


def test_the_decay_section_offers_eta_min_as_a_ratio_of_the_peak() -> None:
    at = start()
    ratio = at.number_input(key=state.decay_key("CosineAnnealingLR", "eta_min_ratio"))
    assert "eta_min = eta_min_ratio x optimizer.lr" in ratio.help
    ratio.set_value(0.1).run()
    assert design(at).decay.kwargs == {"eta_min_ratio": 0.1}
    assert any("eta_min=3e-05" in c.value for c in at.caption)  # resolved: 0.1 x 3e-4
    at.number_input(key=K("optimizer.lr")).set_value(1e-3).run()  # a cosine to 10% stays one
    assert design(at).decay.kwargs == {"eta_min_ratio": 0.1}
    assert any("eta_min=0.0001" in c.value for c in at.caption)
    # one floor or the other: typing an absolute eta_min empties the ratio (the preset's eta_min 0 was
    # emptied when the ratio was typed)
    at.number_input(key=state.decay_key("CosineAnnealingLR", "eta_min")).set_value(1e-5).run()
    assert design(at).decay.kwargs == {"eta_min": 1e-5}
    assert at.number_input(key=state.decay_key("CosineAnnealingLR", "eta_min_ratio")).value is None
    assert not at.error


def test_the_steps_per_epoch_hover_shows_the_formula_with_the_numbers() -> None:
    at = start()
    html = summary_html(at)
    assert (
        'title="ceil(ceil(N / (b x W)) / A) = ceil(ceil(50,000 / (32 x 1)) / 1) = ceil(1,563 / 1) = 1,563 '
        'optimizer steps per epoch (N samples, b micro-batch size, W ranks, A accumulation steps)"'
    ) in html
