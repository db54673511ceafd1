"""Plotly figures of the Forecast page: plain functions of runs, fits and prediction frames.

No Streamlit here (testable without a server).  Long series are thinned for drawing with
:func:`app.charts.downsample`; tables and downloads are never thinned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts import COLORS, TEMPLATE, downsample
from schedules.forecast import Run, law_curve

MAX_POINTS = 1500


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        template=TEMPLATE,
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        hovermode="x unified",
    )
    fig.update_xaxes(title="optimizer step")
    fig.update_yaxes(title="training loss")
    return fig


def _y_range(values: list[np.ndarray], start_rows: list[int]) -> list[float] | None:
    """From a bit below the lowest value to a bit above the loss a tenth into the runs (the first
    steps of a power law are far above the rest and would flatten the picture)."""
    lows, highs = [], []
    for v, start in zip(values, start_rows, strict=True):
        v = v[np.isfinite(v)]
        if len(v) == 0:
            continue
        lows.append(float(np.min(v)))
        highs.append(float(np.quantile(v[min(start, len(v) - 1) :], 0.98)))
    if not lows:
        return None
    lo, hi = min(lows), max(highs)
    pad = 0.05 * max(hi - lo, 1e-9)
    return [lo - pad, hi + pad]


def fitted_figure(fit: dict, runs: list[Run]) -> go.Figure:
    """Each run's logged loss (thin, light) and the fitted law (solid) on its lr."""
    fig = go.Figure()
    values, starts = [], []
    for i, run in enumerate(runs):
        color = COLORS[i % len(COLORS)]
        x, y = run.loss_rows.astype(np.float64), run.loss
        keep = downsample(x, y, MAX_POINTS)
        fig.add_trace(
            go.Scattergl(
                x=x[keep],
                y=y[keep],
                mode="lines",
                name=f"{run.name} (logged)",
                line={"color": _rgba(color, 0.35), "width": 1},
            )
        )
        curve = law_curve(fit, run.lr)
        rows = np.arange(len(curve), dtype=np.float64)
        keep = downsample(rows[1:], curve[1:], MAX_POINTS) + 1  # the law's row 0 is left out
        fig.add_trace(
            go.Scatter(
                x=rows[keep],
                y=curve[keep],
                mode="lines",
                name=f"{run.name} (fitted)",
                line={"color": color, "width": 2},
            )
        )
        values.append(y)
        starts.append(len(y) // 10)
    fig.update_yaxes(range=_y_range(values, starts))
    return _layout(fig, f"Fitted {fit['law']} law vs logged loss")


def prediction_figure(frames: dict[str, pd.DataFrame]) -> go.Figure:
    """Predicted loss of each design (line) with its band (shaded)."""
    fig = go.Figure()
    values, starts = [], []
    for i, (name, frame) in enumerate(frames.items()):
        color = COLORS[i % len(COLORS)]
        x = frame["step"].to_numpy(dtype=np.float64)[1:]
        pred = frame["loss_pred"].to_numpy()[1:]
        ok = np.isfinite(pred)
        x, pred = x[ok], pred[ok]
        low = frame["loss_low"].to_numpy()[1:][ok]
        high = frame["loss_high"].to_numpy()[1:][ok]
        keep = downsample(x, pred, MAX_POINTS)
        fig.add_trace(
            go.Scatter(
                x=x[keep],
                y=high[keep],
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
                legendgroup=name,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x[keep],
                y=low[keep],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=_rgba(color, 0.18),
                name=f"{name} band",
                showlegend=False,
                hoverinfo="skip",
                legendgroup=name,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x[keep],
                y=pred[keep],
                mode="lines",
                name=name,
                line={"color": color, "width": 2},
                legendgroup=name,
            )
        )
        values.append(pred)
        starts.append(len(pred) // 10)
    fig.update_yaxes(range=_y_range(values, starts))
    return _layout(fig, "Predicted loss (shaded: bootstrap band)")


def branches_figure(
    trunk: pd.DataFrame, predictions: dict[str, pd.DataFrame], starts: list[int]
) -> go.Figure:
    """The cooldown fan: the trunk's lr and predicted loss (grey), and every branch from its start step
    to its end (coloured by shape-and-length, its band shaded), lr above and predicted loss below."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.35, 0.65])
    x = trunk["step"].to_numpy(dtype=np.float64)
    keep = downsample(x, trunk["lr"].to_numpy(), MAX_POINTS)
    grey = "#94a3b8"
    fig.add_trace(
        go.Scatter(x=x[keep], y=trunk["lr"].to_numpy()[keep], name="trunk", line={"color": grey, "width": 2}),
        row=1,
        col=1,
    )
    pred = trunk["loss_pred"].to_numpy()
    ok = np.isfinite(pred)
    keep = downsample(x[ok], pred[ok], MAX_POINTS)
    fig.add_trace(
        go.Scatter(
            x=x[ok][keep], y=pred[ok][keep], name="trunk (predicted loss)", line={"color": grey, "width": 2}
        ),
        row=2,
        col=1,
    )
    values, first = [pred[ok]], [len(pred[ok]) // 10]
    for i, (name, frame) in enumerate(predictions.items()):
        color = COLORS[i % len(COLORS)]
        start = min(starts[i], len(frame) - 1)
        part = frame.iloc[start:]
        bx = part["step"].to_numpy(dtype=np.float64)
        keep = downsample(bx, part["lr"].to_numpy(), MAX_POINTS)
        fig.add_trace(
            go.Scatter(
                x=bx[keep],
                y=part["lr"].to_numpy()[keep],
                name=name,
                legendgroup=name,
                showlegend=False,
                line={"color": color, "width": 1.5},
            ),
            row=1,
            col=1,
        )
        p, lo, hi = (part[c].to_numpy() for c in ("loss_pred", "loss_low", "loss_high"))
        keep = downsample(bx, p, MAX_POINTS)
        fig.add_trace(
            go.Scatter(
                x=bx[keep],
                y=hi[keep],
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
                legendgroup=name,
            ),
            row=2,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=bx[keep],
                y=lo[keep],
                line={"width": 0},
                fill="tonexty",
                fillcolor=_rgba(color, 0.15),
                name=f"{name} band",
                showlegend=False,
                hoverinfo="skip",
                legendgroup=name,
            ),
            row=2,
            col=1,
        )
        fig.add_trace(
            go.Scatter(x=bx[keep], y=p[keep], name=name, legendgroup=name, line={"color": color, "width": 2}),
            row=2,
            col=1,
        )
        values.append(p)
        first.append(0)
    _layout(fig, "Cooldown branches off the constant trunk (shaded: bootstrap band)", height=620)
    fig.update_yaxes(title="lr", row=1, col=1)
    fig.update_yaxes(title="predicted loss", range=_y_range(values, first), row=2, col=1)
    fig.update_xaxes(title=None, row=1, col=1)
    return fig
