"""Chart functions: pure Plotly figures checked through the JSON the browser receives."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from figure_json import array, spec_of, trace, xy, y_at
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app import charts
from schedules import ConfigError, compute_curve, load_config
from tests.test_fidelity_properties import designs

BASE = {
    "optimizer": {"name": "SGD", "lr": 1e-3},
    "training": {"dataset_size": 100, "micro_batch_size": 10, "accumulation_steps": 1, "epochs": 3},
}


def figure(cfg: dict, **kw):
    return spec_of(charts.lr_figure(compute_curve(cfg), **kw))


def test_warmup_values_at_named_steps() -> None:
    # Warmup 10 steps from 0 to 1e-3: step 5 -> 5e-4; then constant.
    spec = figure({**BASE, "warmup": {"steps": 10}})
    assert y_at(spec, "lr", 0) == 0.0
    assert y_at(spec, "lr", 5) == pytest.approx(5e-4)
    assert y_at(spec, "lr", 10) == pytest.approx(1e-3)
    assert y_at(spec, "lr", 29) == pytest.approx(1e-3)
    marker = trace(spec, "warmup end")
    assert array(marker["x"]).tolist() == [10]
    assert spec["layout"]["yaxis"]["type"] == "linear"


def test_x_axes_epoch_and_samples() -> None:
    cfg = {**BASE, "training": {**BASE["training"], "accumulation_steps": 2}, "warmup": {"steps": 4}}
    # 10 micro-batches per epoch, accumulation 2 -> 5 steps per epoch of 20 samples each.
    epochs = figure(cfg, x_axis="epoch")
    assert y_at(epochs, "lr", 0.4) == pytest.approx(0.5e-3)  # step 2 = epoch 2/5
    samples = figure(cfg, x_axis="samples")
    assert y_at(samples, "lr", 60) == pytest.approx(0.5e-3)  # step 2 has consumed 3 x 20 samples
    assert samples["layout"]["xaxis"]["title"]["text"] == "samples seen"


def test_log_axis_and_groups() -> None:
    cfg = {
        **BASE,
        "optimizer": {
            **BASE["optimizer"],
            "param_groups": [{"name": "body", "lr_scale": 0.1}, {"name": "head"}],
        },
        "decay": {"scheduler": "ExponentialLR", "kwargs": {"gamma": 0.5}},
    }
    spec = figure(cfg, log_y=True)
    assert spec["layout"]["yaxis"]["type"] == "log"
    assert y_at(spec, "lr/body", 2) == pytest.approx(1e-4 * 0.25)
    assert y_at(spec, "lr/head", 2) == pytest.approx(1e-3 * 0.25)
    one = figure(cfg, show_groups=False)
    assert [t["name"] for t in one["data"]] == ["lr/body"]


def test_restarts_and_epoch_lines() -> None:
    cfg = {
        **BASE,
        "training": {**BASE["training"], "epochs": 100},
        "decay": {"scheduler": "CosineAnnealingWarmRestarts", "kwargs": {"T_0": 250}},
    }
    spec = figure(cfg)
    assert array(trace(spec, "restarts")["x"]).tolist() == [250, 500, 750]
    epoch_lines = [s for s in spec["layout"]["shapes"] if s["line"].get("color") == "#cbd5e1"]
    assert 0 < len(epoch_lines) <= charts.MAX_EPOCH_LINES  # 99 boundaries, thinned
    assert all(s["x0"] % 10 == 0 for s in epoch_lines)  # only whole epochs (10 steps each)
    assert not [
        s for s in figure(cfg, show_epochs=False)["layout"]["shapes"] if s["line"].get("color") == "#cbd5e1"
    ]


def test_plateau_markers_hover_and_metric_axis() -> None:
    cfg = {
        **BASE,
        "plateau": {
            "patience": 0,
            "factor": 0.5,
            "eval_every": 5,
            "metric": {"values": [3.0, 2.0, 2.5, 2.4, 2.6, 2.7]},
        },
    }
    curve = compute_curve(cfg)
    spec = spec_of(charts.lr_figure(curve))
    red = trace(spec, "plateau reductions")
    # Evaluation 2 (after step 14) is worse than best 2.0: cut from step 15 on.
    assert array(red["x"]).tolist()[0] == 15
    assert array(red["y"]).tolist()[0] == pytest.approx(5e-4)
    assert "metric 2.5, best 2" in red["text"][0]
    metric = trace(spec, "metric")
    assert metric["yaxis"] == "y2"
    assert array(metric["y"]).tolist() == [3.0, 2.0, 2.5, 2.4, 2.6, 2.7]
    assert spec["layout"]["yaxis2"]["overlaying"] == "y"
    # the axis is named after the metric, with round ticks of its own (not the lr axis's grid)
    axis = spec["layout"]["yaxis2"]
    assert axis["title"]["text"] == "your metric (lower is better)"
    assert (axis["tickmode"], axis["nticks"], axis["tickformat"]) == ("auto", 6, ".3~g")
    synthetic = {**cfg, "plateau": {**cfg["plateau"], "metric": {"synthetic": {}}}}
    title = spec_of(charts.lr_figure(compute_curve(synthetic)))["layout"]["yaxis2"]["title"]["text"]
    assert title == "validation loss (synthetic)"
    accuracy = {**cfg, "plateau": {**cfg["plateau"], "mode": "max"}}
    title = spec_of(charts.lr_figure(compute_curve(accuracy)))["layout"]["yaxis2"]["title"]["text"]
    assert title == "your metric (higher is better)"
    assert y_at(spec, "lr", 15) == pytest.approx(5e-4)
    no_metric = spec_of(charts.lr_figure(curve, show_metric=False, show_events=False))
    assert [t["name"] for t in no_metric["data"]] == ["lr"]


def test_downsample_keeps_extremes_and_size() -> None:
    x = np.arange(100_000)
    y = np.cos(x / 5000.0)
    y[31_337] = 5.0  # a spike
    idx = charts.downsample(x, y, 5000)
    assert len(idx) == 5000
    assert np.all(np.diff(idx) > 0)
    assert 31_337 in idx and 0 in idx and 99_999 in idx
    assert charts.downsample(x[:10], y[:10], 5000).tolist() == list(range(10))
    y_nan = y.copy()
    y_nan[60_000:] = np.nan
    idx = charts.downsample(x, y_nan, 5000)
    assert np.isnan(y_nan[idx]).sum() == 1  # one gap marker, at the first NaN
    assert idx.max() == 60_000


def test_long_curve_payload_is_bounded() -> None:
    cfg = {**BASE, "training": {**BASE["training"], "max_steps": 300_000}, "decay": {"scheduler": "StepLR"}}
    fig = charts.lr_figure(compute_curve(cfg))
    x, y = xy(spec_of(fig), "lr")
    assert len(x) <= charts.MAX_POINTS
    assert y.min() == pytest.approx(1e-3 * 0.01) and y.max() == pytest.approx(1e-3)
    assert len(fig.to_json()) < 200_000


def test_compare_overlay() -> None:
    a = pd.DataFrame({"step": [0, 1, 2], "samples": [10, 20, 30], "lr": [0.1, 0.2, 0.3]})
    b = pd.DataFrame({"step": [0, 1], "samples": [20, 40], "lr": [0.5, np.nan]})
    spec = spec_of(charts.compare_figure([charts.Series("a", a), charts.Series("b", b, dash="dash")]))
    assert xy(spec, "a")[0].tolist() == [10, 20, 30]
    assert trace(spec, "b")["line"]["dash"] == "dash"
    assert spec["layout"]["xaxis"]["title"]["text"] == "samples seen"
    steps = spec_of(charts.compare_figure([charts.Series("a", a)], x_axis="step"))
    assert xy(steps, "a")[0].tolist() == [0, 1, 2]


def test_charts_do_not_import_streamlit() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(charts))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "streamlit" not in names and "streamlit" not in modules
    assert load_config(BASE)  # the library is what the charts use


def test_long_curves_draw_every_restart_at_its_exact_step_and_stay_small():
    curve = compute_curve(
        load_config(
            {"training": {"max_steps": 200_000},
             "decay": {"scheduler": "CosineAnnealingWarmRestarts", "kwargs": {"T_0": 7_919}}}
        )
    )  # fmt: skip
    restarts = [e.step for e in curve.events if e.kind == "restart"]
    assert len(restarts) == 200_000 // 7_919
    fig = charts.lr_figure(curve)
    trace = next(t for t in fig.data if t.name == "lr")
    drawn = set(np.asarray(trace.x).tolist())
    assert all(r in drawn and r - 1 in drawn for r in restarts)
    lr = curve.frame["lr"].to_numpy()
    assert np.asarray(trace.y).max() == lr.max() and np.asarray(trace.y).min() == lr.min()
    assert len(fig.to_json()) < 300_000


# The Designer's chart is assembled as plain dicts and made without Plotly's per-property validation
# (app/charts.py, lr_figure: 29 -> 4 ms per new figure). Every figure it can make must still be one
# Plotly accepts property by property, unchanged by the validation.
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    design=designs(),
    view=st.tuples(st.sampled_from(["step", "epoch", "samples"]), st.booleans(), st.booleans()),
)
def test_every_designer_figure_is_valid_plotly(design: dict, view: tuple[str, bool, bool]) -> None:
    try:
        cfg = load_config(design)
    except ConfigError:
        assume(False)
    x_axis, log_y, toggles = view
    fig = charts.lr_figure(
        compute_curve(cfg), x_axis=x_axis, log_y=log_y, show_groups=toggles, show_epochs=not toggles
    )
    validated = go.Figure(fig.to_dict())  # raises on any property Plotly does not know
    assert json.loads(validated.to_json()) == json.loads(fig.to_json())
