"""The Diagnose chart: the run's lr over the intended schedule, each cause's model of the run, and
each cause's evidence (the first step that differs, expected vs got) marked on it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..report import COLORS
from .diagnose import Diagnosis


def _finite(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(y)
    return x[keep], y[keep]


def diagnosis_figure(found: Diagnosis, log_y: bool = False, height: int = 460) -> Any:
    """A plotly figure: intended lr (solid), the run's lr (markers), each cause's model (dotted),
    a marker and a label at each cause's first differing step."""
    import plotly.graph_objects as go

    fig = go.Figure()
    expected = np.asarray(found.expected, dtype=float)
    if len(expected):
        x, y = _finite(np.arange(len(expected)), expected)
        label = "design lr" if found.design_given else "inferred intended lr"
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=label, line={"color": COLORS[0], "width": 3}))
    o = found.observed
    fig.add_trace(
        go.Scatter(
            x=o.rows,
            y=o.lr,
            mode="lines+markers" if len(o.rows) <= 400 else "lines",
            name="run lr" + (" (rank 0)" if len(o.ranks) > 1 else ""),
            line={"color": COLORS[1], "width": 2, "dash": "dash"},
            marker={"size": 5},
        )
    )
    for i, cause in enumerate(found.causes):
        color = COLORS[(i + 3) % len(COLORS)]
        if cause.predicted is not None:
            pred = np.asarray(cause.predicted, dtype=float)
            x, y = _finite(np.arange(len(pred)), pred)
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, mode="lines", name=f"model: {cause.code}", line={"color": color, "dash": "dot"}
                )
            )
        first = cause.evidence.get("first_step")
        got = cause.evidence.get("got")
        if isinstance(first, (int, np.integer)) and got is not None and np.isfinite(got):
            fig.add_trace(
                go.Scatter(
                    x=[int(first)],
                    y=[float(got)],
                    mode="markers+text",
                    name=f"{cause.code}: first step that differs",
                    text=[f"{i + 1}. {cause.code} @ step {int(first)}"],
                    textposition="top right",
                    marker={"color": color, "size": 13, "symbol": "x"},
                    showlegend=False,
                )
            )
            fig.add_vline(x=int(first), line={"color": color, "width": 1, "dash": "dot"})
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="optimizer step",
        yaxis_title="learning rate",
        legend={"orientation": "h", "y": -0.2},
    )
    if log_y:
        fig.update_yaxes(type="log")
    return fig
