"""Issue 17: the work *after* the curve is bounded too.  A design can have an event at every other step
(``CosineAnnealingWarmRestarts`` with ``T_0=2``) or a plateau evaluation and reduction at every step;
the chart once drew one marker and hover text per event and the Designer's tables sent every row (a
300,000-step design of that kind took 58 s to appear after its curve, most of it here).  Now the chart
thins its markers to :data:`app.charts.MAX_EVENT_MARKERS` and the tables show the first
:data:`app.views.designer.tables.MAX_TABLE_ROWS` rows, saying how many there are.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd
from designer_app import open_sections, show_tab
from streamlit.testing.v1 import AppTest

from app import charts, state, ui
from schedules import compute_curve, load_config

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
STEPS = 20_000
#: A restart after every second step: restarts at steps 2, 4, ..., 19,998 (9,999 of them).
RESTARTS = {
    "optimizer": {"name": "SGD", "lr": 0.1},
    "training": {"max_steps": STEPS},
    "decay": {"scheduler": "CosineAnnealingWarmRestarts", "kwargs": {"T_0": 2}},
}
#: An evaluation after every step; patience 0, so once the synthetic loss stalls (evaluation 6 on)
#: every evaluation cuts the lr by a factor 0.999999 (lr 10: each cut is far above eps).
REDUCTIONS = {
    "optimizer": {"name": "SGD", "lr": 10.0},
    "training": {"max_steps": STEPS},
    "plateau": {"eval_every": 1, "patience": 0, "factor": 0.999999, "metric": {"synthetic": {}}},
}


def test_restart_markers_are_thinned_to_a_bounded_number():
    curve = compute_curve(RESTARTS)
    restarts = [e.step for e in curve.events if e.kind == "restart"]
    assert restarts[:3] == [2, 4, 6] and len(restarts) == STEPS // 2 - 1
    fig = charts.lr_figure(curve)
    (trace,) = [t for t in fig.data if t.name == "restarts"]
    stride = -(-len(restarts) // charts.MAX_EVENT_MARKERS)  # ceil: 20
    assert len(trace.x) <= charts.MAX_EVENT_MARKERS
    assert list(trace.customdata[:3]) == [2, 2 + 2 * stride, 2 + 4 * stride]  # every 20th restart


def test_plateau_reduction_markers_are_thinned_and_the_evaluations_frame_is_exact():
    curve = compute_curve(REDUCTIONS)
    reductions = [e for e in curve.events if e.kind == "plateau_reduction"]
    assert len(curve.evaluations) == STEPS  # after every one of the 20,000 steps (the curve steps T times)
    assert len(reductions) > 10_000
    fig = charts.lr_figure(curve)
    (trace,) = [t for t in fig.data if t.name == "plateau reductions"]
    assert 0 < len(trace.x) <= charts.MAX_EVENT_MARKERS
    assert trace.customdata[0] == reductions[0].step
    # the column-built frame is the one a row per evaluation gives
    expected = pd.DataFrame([asdict(e) for e in curve.evaluations])
    pd.testing.assert_frame_equal(curve.evaluations_frame(), expected)
    pd.testing.assert_frame_equal(curve.evaluations_frame(50), expected.head(50))


def test_designer_tables_show_a_bounded_number_of_rows_and_say_so():
    ui.cached_curve.clear()
    at = AppTest.from_file(MAIN, default_timeout=180)
    show_tab(open_sections(at), "Events")
    at.session_state[state.DESIGN_JSON] = load_config(RESTARTS).to_json()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (events,) = [d for d in at.dataframe if "kind" in d.value.columns]
    assert len(events.value) == 1000 and events.value["step"].iloc[:2].tolist() == [2, 4]
    captions = [c.value for c in at.caption]
    assert any("The first 1,000 of 9,999 events" in c for c in captions), captions


def test_the_curve_cache_counts_evaluations_and_events():
    """Was: only the frame and lrs were counted, so 2,000,000 evaluations and reductions (about 1.3 GB
    of Python objects) could sit in a cache that believed it held 50 MB."""
    curve = compute_curve(REDUCTIONS)
    arrays = int(curve.frame.memory_usage(index=True).sum())
    objects = ui.EVALUATION_BYTES * len(curve.evaluations) + ui.EVENT_BYTES * len(curve.events)
    assert ui._curve_bytes(curve) >= arrays + objects
    assert objects > 5 * arrays  # here the objects are most of it
