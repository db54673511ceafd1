"""Plotly figures of the Forecast page: plain functions of runs, fits and prediction frames.

No Streamlit here (testable without a server).  Long series are thinned for drawing with
:func:`app.charts.downsample`; tables and downloads are never thinned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts import COLORS, TEMPLATE, downsample
from app.text import plot
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
                name=f"{plot(run.name)} (logged)",
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
                name=f"{plot(run.name)} (fitted)",
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
                legendgroup=plot(name),
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
                name=f"{plot(name)} band",
                showlegend=False,
                hoverinfo="skip",
                legendgroup=plot(name),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x[keep],
                y=pred[keep],
                mode="lines",
                name=plot(name),
                line={"color": color, "width": 2},
                legendgroup=plot(name),
            )
        )
        values.append(pred)
        starts.append(len(pred) // 10)
    fig.update_yaxes(range=_y_range(values, starts))
    return _layout(fig, "Predicted loss (shaded: bootstrap band)")
