"""Plotly figures for the designer and the compare page: plain functions of DataFrames and curves.

Nothing here imports Streamlit, so every figure is testable (and usable in a notebook) without a
server.  Long curves are thinned for drawing by :func:`downsample`, the one place that decides how
many points reach the browser; the data behind a figure (CSV export, tables) is never thinned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from tsdownsample import MinMaxLTTBDownsampler

from schedules.curve import Curve

XAxis = Literal["step", "epoch", "samples", "tokens"]

#: Curves longer than this are downsampled for drawing (to this many points per trace).
MAX_POINTS = 5000
#: At most this many rows are forced into a drawn trace (both sides of restarts and plateau drops).
MAX_KEPT_POINTS = 2000
#: Events where the lr jumps: the rows on both sides are always drawn.
JUMP_EVENTS = ("restart", "plateau_reduction", "warmup_end", "hold_end")
#: At most this many epoch-boundary lines; more epochs are thinned to every k-th boundary.
MAX_EPOCH_LINES = 40
#: At most this many restart lines (every restart still gets a hoverable marker).
MAX_RESTART_LINES = 40
#: Most restart / plateau-reduction markers drawn (thinned to every k-th beyond: a design with a
#: restart or reduction at every step would otherwise send one marker and hover text per step).
MAX_EVENT_MARKERS = 500

X_TITLES: dict[str, str] = {
    "step": "optimizer step",
    "epoch": "epoch",
    "samples": "samples seen",
    "tokens": "tokens seen",
}
COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"]
EVENT_COLOR = "#64748b"
METRIC_COLOR = "#9333ea"
PLATEAU_COLOR = "#dc2626"


def downsample(
    x: np.ndarray, y: np.ndarray, n_out: int = MAX_POINTS, keep: np.ndarray | None = None
) -> np.ndarray:
    """Indices (sorted) of the points of ``(x, y)`` to draw: all of them up to ``n_out``, else a
    min/max-preserving selection of ``n_out`` (MinMaxLTTB), so spikes, drops and restarts survive.

    ``x`` must be non-decreasing.  NaNs in ``y`` (a loop torch aborted) are kept out of the selection
    and drawn as a gap at the first one.  ``keep``: indices that are always drawn (the rows on both
    sides of a restart or a plateau drop, so the jump is drawn at its exact step).
    """
    idx = _downsample(x, y, n_out)
    if keep is not None and len(keep) and len(idx) < len(x):
        keep = np.asarray(keep, dtype=np.int64)
        keep = keep[(keep >= 0) & (keep < len(x))][:MAX_KEPT_POINTS]
        idx = np.union1d(idx, keep)
    return idx


def _downsample(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    n = len(x)
    if n <= n_out:
        return np.arange(n)
    y = np.asarray(y, dtype=np.float64)
    finite = np.isfinite(y)
    if not finite.all():
        keep = np.flatnonzero(finite)
        if len(keep) <= n_out:
            return np.sort(np.concatenate([keep, np.flatnonzero(~finite)[:1]]))
        idx = keep[_downsample(np.asarray(x)[keep], y[keep], n_out - 1)]
        return np.sort(np.concatenate([idx, np.flatnonzero(~finite)[:1]]))
    xs = np.asarray(x, dtype=np.float64)
    idx = MinMaxLTTBDownsampler().downsample(xs, y, n_out=n_out)
    return np.asarray(idx, dtype=np.int64)


def x_of_steps(curve: Curve, steps: np.ndarray | Sequence[int], axis: XAxis) -> np.ndarray:
    """Map optimizer-step rows to the chosen x axis (epochs are fractional: ``Plan.epoch_positions``,
    ``step / steps_per_epoch`` without a batch ramp; tokens: samples x ``training.tokens_per_sample``)."""
    steps = np.asarray(steps, dtype=np.int64)
    if axis == "step":
        return steps
    plan = curve.plan
    if axis == "epoch":
        if plan.ramp is None:
            return steps / plan.steps_per_epoch
        pos = plan.epoch_positions()
        inside = np.minimum(steps, len(pos) - 1)
        return pos[inside] + (steps - inside) / plan.steps_per_epoch
    samples = curve.frame["samples"].to_numpy()
    # Event rows can be T (one past the last row): extrapolate by a full step.
    inside = np.minimum(steps, len(samples) - 1)
    seen = samples[inside] + (steps - inside) * plan.effective_batch
    return seen * plan.tokens_per_sample if axis == "tokens" and plan.tokens_per_sample else seen


def _hover_x(axis: XAxis) -> str:
    return {
        "step": "step %{x}",
        "epoch": "epoch %{x:.3f} (step %{customdata})",
        "samples": "%{x:,} samples (step %{customdata})",
        "tokens": "%{x:,} tokens (step %{customdata})",
    }[axis]


#: A small template (plotly's built-in ones are ~85 KB of JSON per figure and slow to copy).
_AXIS = {
    "gridcolor": "#e8edf3",
    "linecolor": "#cbd5e1",
    "zerolinecolor": "#cbd5e1",
    "ticks": "",
    "title": {"standoff": 8},
    "automargin": True,
}
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "Source Sans Pro, sans-serif", "size": 12, "color": "#334155"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "colorway": COLORS,
        "xaxis": _AXIS,
        "yaxis": _AXIS,
        "hoverlabel": {"font": {"size": 12}},
    }
)


def _base_layout(fig: go.Figure, x_axis: str, log_y: bool, height: int) -> None:
    fig.update_layout(_layout(x_axis, log_y, height))


#: The template as plain JSON, made once: figures take it without re-validating it.
_TEMPLATE_JSON = TEMPLATE.to_plotly_json()


def _layout(x_axis: str, log_y: bool, height: int) -> dict:
    """The layout every lr chart shares (axes titles, sizes, the template)."""
    return {
        "template": _TEMPLATE_JSON,
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "hovermode": "closest",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        "xaxis": {"title": {"text": X_TITLES.get(x_axis, x_axis)}, "showspikes": True, "spikethickness": 1},
        "yaxis": {
            "title": {"text": "learning rate" + (" (log)" if log_y else "")},
            "type": "log" if log_y else "linear",
            "tickformat": ".3~g" if not log_y else "",
            "exponentformat": "e",
            "rangemode": "tozero" if not log_y else "normal",
        },
    }


def thin(items: list, most: int) -> list:
    """Every k-th item (the first always) so that at most ``most`` remain."""
    stride = max(1, math.ceil(len(items) / most))
    return items[::stride]


def lr_figure(
    curve: Curve,
    x_axis: XAxis = "step",
    log_y: bool = False,
    show_groups: bool = True,
    show_events: bool = True,
    show_epochs: bool = True,
    show_metric: bool = True,
    height: int = 460,
) -> go.Figure:
    """The designer's chart: the lr of every param group against steps, epochs or samples.

    Traces (by name): ``lr`` (one group) or ``lr/<group>`` per group; ``warmup end`` / ``decay start``
    / ``restarts`` markers; ``plateau reductions`` (hover shows metric and best); ``metric`` on a
    second y axis when the design has a plateau.  Epoch boundaries are light vertical lines (at most
    :data:`MAX_EPOCH_LINES`, thinned to every k-th epoch when there are more).

    The figure is assembled as plain dicts and made once, without Plotly's per-property validation:
    built through ``update_layout`` / ``add_trace`` it took ~30 ms, most of a redraw's server time
    after a new design's curve (tests/test_charts.py validates every figure it builds instead).
    """
    frame = curve.frame
    steps = frame["step"].to_numpy()
    x_all = x_of_steps(curve, steps, x_axis)
    columns = [f"lr/{g}" for g in curve.group_names] if len(curve.group_names) > 1 else ["lr"]
    jumps = np.array([e.step for e in curve.events if e.kind in JUMP_EVENTS], dtype=np.int64)
    keep = np.concatenate([jumps - 1, jumps]) if len(jumps) else None
    if not show_groups:
        columns = columns[:1]
    data: list[dict] = []
    for i, col in enumerate(columns):
        y_all = frame[col].to_numpy()
        idx = downsample(x_all, y_all, keep=keep)
        trace = {
            "type": "scatter",
            "x": x_all[idx],
            "y": y_all[idx],
            "name": col,
            "mode": "lines",
            "line": {"color": COLORS[i % len(COLORS)], "width": 2},
            "hovertemplate": f"{_hover_x(x_axis)}<br>{col} %{{y:.4g}}<extra></extra>",
        }
        if x_axis != "step":
            trace["customdata"] = steps[idx]  # the step number, for hover
        data.append(trace)
    lr0 = frame["lr"].to_numpy()
    total = len(lr0)

    def at(step: int) -> float:
        return float(lr0[min(step, total - 1)])

    layout = _layout(x_axis, log_y, height)
    shapes: list[dict] = []
    annotations: list[dict] = []
    if show_epochs:
        shapes += _epoch_lines(curve, x_axis)
    if show_events:
        marks = [e for e in curve.events if e.kind in ("warmup_end", "hold_end", "ramp_end")]
        for e in marks:
            x = float(x_of_steps(curve, [e.step], x_axis)[0])
            shapes.append(_vline(x, {"color": EVENT_COLOR, "dash": "dash", "width": 1}))
            annotations.append(
                {
                    "x": x,
                    "y": 1,
                    "yref": "paper",
                    "text": e.label,
                    "showarrow": False,
                    "xanchor": "left",
                    "yanchor": "top",
                    "font": {"size": 11, "color": EVENT_COLOR},
                }
            )
            data.append(
                {
                    "type": "scatter",
                    "x": [x],
                    "y": [at(e.step)],
                    "customdata": [e.step],
                    "name": e.label,
                    "mode": "markers",
                    "marker": {"symbol": "diamond", "size": 9, "color": EVENT_COLOR},
                    "hovertemplate": f"{e.label}<br>{_hover_x(x_axis)}<br>lr %{{y:.4g}}<extra></extra>",
                    "showlegend": False,
                }
            )
        restarts = thin([e for e in curve.events if e.kind == "restart"], MAX_EVENT_MARKERS)
        if restarts:
            rs = np.array([e.step for e in restarts])
            rx = x_of_steps(curve, rs, x_axis)
            stride = max(1, math.ceil(len(rs) / MAX_RESTART_LINES))
            shapes += [
                _vline(float(x), {"color": EVENT_COLOR, "dash": "dot", "width": 1}) for x in rx[::stride]
            ]
            data.append(
                {
                    "type": "scatter",
                    "x": rx,
                    "y": [at(s) for s in rs],
                    "customdata": rs,
                    "name": "restarts",
                    "mode": "markers",
                    "marker": {
                        "symbol": "circle-open",
                        "size": 9,
                        "color": EVENT_COLOR,
                        "line": {"width": 2},
                    },
                    "hovertemplate": f"restart<br>{_hover_x(x_axis)}<br>lr %{{y:.4g}}<extra></extra>",
                }
            )
        reductions = thin([e for e in curve.events if e.kind == "plateau_reduction"], MAX_EVENT_MARKERS)
        if reductions:
            ps = np.array([e.step for e in reductions])
            hover = [
                f"plateau reduction (evaluation {e.data['evaluation']})<br>"
                f"metric {e.data['metric']:.5g}, best {e.data['best']:.5g}<br>"
                f"lr {e.data['lr_before']:.4g} → {e.data['lr_after']:.4g}"
                for e in reductions
            ]
            data.append(
                {
                    "type": "scatter",
                    "x": x_of_steps(curve, ps, x_axis),
                    "y": [e.data["lr_after"] for e in reductions],
                    "customdata": ps,
                    "text": hover,
                    "name": "plateau reductions",
                    "mode": "markers",
                    "marker": {"symbol": "triangle-down", "size": 11, "color": PLATEAU_COLOR},
                    "hovertemplate": f"%{{text}}<br>{_hover_x(x_axis)}<extra></extra>",
                }
            )
    if show_metric and curve.evaluations:
        ev = curve.evaluations_frame()
        es = ev["step"].to_numpy()
        ex = x_of_steps(curve, es, x_axis)
        idx = downsample(ex, ev["metric"].to_numpy())
        data.append(
            {
                "type": "scatter",
                "x": ex[idx],
                "y": ev["metric"].to_numpy()[idx],
                "customdata": np.stack(
                    [es[idx], ev["best"].to_numpy()[idx], ev["num_bad_epochs"].to_numpy()[idx]], -1
                ),
                "name": "metric",
                "yaxis": "y2",
                "mode": "lines+markers" if len(idx) <= 200 else "lines",
                "line": {"color": METRIC_COLOR, "width": 1.5, "dash": "dot"},
                "marker": {"size": 5},
                "hovertemplate": "metric %{y:.5g}<br>best %{customdata[1]:.5g}, bad evaluations "
                "%{customdata[2]}<br>after step %{customdata[0]}<extra></extra>",
            }
        )
        layout["yaxis2"] = {
            "title": {"text": "metric", "font": {"color": METRIC_COLOR}},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "tickfont": {"color": METRIC_COLOR},
        }
    if shapes:
        layout["shapes"] = shapes
    if annotations:
        layout["annotations"] = annotations
    if sum(1 for t in data if t.get("showlegend") is not False) < 2:
        layout["showlegend"] = False
        layout["margin"] = {**layout["margin"], "t": 24}
    return go.Figure(data=data, layout=layout, _validate=False)


def _vline(x: float, line: dict, layer: str = "above") -> dict:
    """A full-height vertical line shape at data ``x`` (what ``add_vline`` makes, without its cost)."""
    return {
        "type": "line",
        "xref": "x",
        "yref": "y domain",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": line,
        "layer": layer,
    }


def _epoch_lines(curve: Curve, x_axis: XAxis) -> list[dict]:
    starts = [e.step for e in curve.events if e.kind == "epoch"]
    if not starts:
        return []
    stride = max(1, math.ceil(len(starts) / MAX_EPOCH_LINES))
    chosen = np.array(starts[stride - 1 :: stride])
    return [
        _vline(float(x), {"color": "#cbd5e1", "width": 1}, "below") for x in x_of_steps(curve, chosen, x_axis)
    ]


@dataclass
class Series:
    """One overlaid curve of the compare chart: a frame with ``step``, ``samples`` and ``lr``."""

    name: str
    frame: pd.DataFrame
    color: str | None = None
    dash: str = "solid"
    group: str = ""  # legend group (a design and its mistake variants)
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def compare_figure(
    series: Sequence[Series],
    x_axis: Literal["samples", "step"] = "samples",
    log_y: bool = False,
    height: int = 480,
) -> go.Figure:
    """Overlay several curves on a shared x axis (samples seen, so different batch settings line up)."""
    fig = go.Figure()
    for i, s in enumerate(series):
        x_all = s.frame[x_axis].to_numpy()
        y_all = s.frame["lr"].to_numpy()
        idx = downsample(x_all, y_all)
        fig.add_trace(
            go.Scatter(
                x=x_all[idx],
                y=y_all[idx],
                customdata=None if x_axis == "step" else s.frame["step"].to_numpy()[idx],
                name=s.name,
                legendgroup=s.group or s.name,
                mode="lines",
                line={
                    "color": s.color or COLORS[i % len(COLORS)],
                    "dash": s.dash,
                    "width": 2 if s.dash == "solid" else 2.5,
                },
                hovertemplate=f"<b>{s.name}</b><br>{_hover_x(x_axis) if x_axis != 'samples' else '%{x:,} samples (step %{customdata})'}"
                "<br>lr %{y:.4g}<extra></extra>",
                connectgaps=False,
            )
        )
    _base_layout(fig, x_axis, log_y, height)
    fig.update_layout(
        legend={"orientation": "h", "yanchor": "top", "y": -0.16, "xanchor": "left", "x": 0},
        margin={"t": 16},
    )
    return fig


STACK_COLOR = "#dc2626"


def add_stack_overlay(
    fig: go.Figure, curve: Curve, frame: pd.DataFrame, name: str, x_axis: XAxis
) -> go.Figure:
    """A copy of ``fig`` with what a training stack does (one row per optimizer step *it* takes)
    overlaid; ``fig`` itself (possibly a shared cached figure) is left untouched."""
    fig = go.Figure(fig)
    steps = frame["step"].to_numpy()
    if x_axis in ("samples", "tokens"):
        x_all = frame["samples"].to_numpy() * (
            (curve.plan.tokens_per_sample or 1) if x_axis == "tokens" else 1
        )
    elif x_axis == "epoch":
        x_all = steps / curve.plan.steps_per_epoch
    else:
        x_all = steps
    y_all = frame["lr"].to_numpy()
    idx = downsample(x_all, y_all)
    fig.add_trace(
        go.Scatter(
            x=x_all[idx],
            y=y_all[idx],
            customdata=steps[idx],
            name=name,
            mode="lines",
            line={"color": STACK_COLOR, "dash": "dash", "width": 2.5},
            hovertemplate=f"<b>{name}</b><br>step %{{customdata}}<br>lr %{{y:.4g}}<extra></extra>",
        )
    )
    return fig


def schedule_free_trace_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """What a schedule-free optimizer does instead of a decay: the step size (its own warmup) and the
    averaging weight ``c_k`` of each step (``step, lr, averaging``: ``schedules.train.schedule_free.trace``),
    the weight on a log axis on the right."""
    fig = go.Figure()
    fig.add_scatter(x=frame["step"], y=frame["lr"], mode="lines", name="step size (lr x warmup)")
    fig.add_scatter(
        x=frame["step"], y=frame["averaging"], mode="lines", name="averaging weight c_k", yaxis="y2"
    )
    fig.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title={"text": title, "font": {"size": 14}},
        xaxis={"title": "optimizer step"},
        yaxis={"title": "step size"},
        yaxis2={"title": "c_k", "overlaying": "y", "side": "right", "type": "log"},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def timescale_figure(frame: pd.DataFrame, label: str) -> go.Figure:
    """AdamW's timescale in epochs over the samples seen, old design against the timescale rule's design
    (``schedules.rescale.timescale_frame``), on a log axis."""
    names = {"old": f"{label} (now)", "new": f"{label} (timescale rule)"}
    data = []
    for i, (design, part) in enumerate(frame.groupby("design", sort=False)):
        x, y = part["samples"].to_numpy(), part["tau_epochs"].to_numpy()
        idx = downsample(x, y)
        data.append(
            {
                "type": "scatter",
                "x": x[idx],
                "y": y[idx],
                "name": names.get(design, design),
                "mode": "lines",
                "line": {"color": COLORS[i % len(COLORS)], "width": 2, "dash": "solid" if i == 0 else "dash"},
                "hovertemplate": "%{x:,} samples<br>tau %{y:.4g} epochs<extra></extra>",
            }
        )
    layout = _layout("samples", True, 320)
    layout["yaxis"] = {**layout["yaxis"], "title": {"text": "AdamW timescale (epochs, log)"}}
    return go.Figure(data=data, layout=layout, _validate=False)
