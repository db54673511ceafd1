"""The Live page's figures and tables: plain functions from the runs' DataFrames to Plotly figures.

Nothing here imports Streamlit (as :mod:`app.charts`), so each figure is testable without a server.
Traces are thinned for drawing by :func:`app.charts.downsample` (min/max preserving); the data behind
them (the CSV download) is never thinned.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from app.charts import COLORS, TEMPLATE, downsample, lr_axis
from schedules.train.gns import compare_sentence

if TYPE_CHECKING:
    from schedules.train.runs import LiveRun

__all__ = [
    "FINAL_LOSS",
    "MAX_POINTS",
    "STEPS_PER_S_HELP",
    "final_loss",
    "noise_figure",
    "range_figure",
    "run_figures",
    "schedule_free_figure",
    "smoothed",
    "suggestions_table",
    "summary_table",
]

#: Points per trace of a finished run (a running one draws fewer: the Live page's LIVE_POINTS).
MAX_POINTS = 1500


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, log_x: bool = False) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        template=TEMPLATE,
        height=360,
        margin={"l": 10, "r": 10, "t": 36, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
        uirevision=title,
    )
    fig.update_xaxes(title=x_title, type="log" if log_x else "linear")
    fig.update_yaxes(title=y_title)
    return fig


def smoothed(loss: pd.Series) -> pd.Series:
    """Exponential moving average over about 2% of the run (at least 10 steps), for readable lines."""
    span = max(10, len(loss) // 50)
    return loss.ewm(span=span, adjust=True).mean()


DASHES = ["solid", "dash", "dot", "dashdot"]


def run_figures(
    frames: dict[str, pd.DataFrame], points: int = MAX_POINTS
) -> tuple[go.Figure, go.Figure, go.Figure]:
    """Loss vs step, lr vs step and loss vs lr, one colour per setting (thinned for drawing).

    Loss lines are the moving average (raw loss faint behind it); settings that coincide exactly
    (64x1 and 16x4) show as a dashed line over a solid one.
    """
    loss_fig, lr_fig, loss_lr_fig = go.Figure(), go.Figure(), go.Figure()
    for i, (label, f) in enumerate(frames.items()):
        if f.empty:
            continue
        color, dash = COLORS[i % len(COLORS)], DASHES[i % len(DASHES)]
        step, loss, lr = f["step"].to_numpy(), f["loss"].to_numpy(), f["lr"].to_numpy()
        smooth = smoothed(f["loss"]).to_numpy()
        keep = downsample(step, loss, points)
        keep_smooth = downsample(step, smooth, points)
        loss_fig.add_scatter(
            x=step[keep], y=loss[keep], mode="lines", name=f"{label} (raw)", showlegend=False,
            line={"color": color, "width": 1}, opacity=0.25, hoverinfo="skip",
        )  # fmt: skip
        loss_fig.add_scatter(
            x=step[keep_smooth], y=smooth[keep_smooth], mode="lines", name=label,
            line={"color": color, "width": 2, "dash": dash},
        )  # fmt: skip
        val = f[f["val_loss"].notna()]
        if not val.empty:
            loss_fig.add_scatter(
                x=val["step"], y=val["val_loss"], mode="markers", name=f"{label} (val)", showlegend=False,
                marker={"color": color, "size": 9, "symbol": "diamond", "line": {"color": "white", "width": 1}},
            )  # fmt: skip
        keep_lr = downsample(step, lr, points)
        lr_fig.add_scatter(
            x=step[keep_lr],
            y=lr[keep_lr],
            mode="lines",
            name=label,
            line={"color": color, "width": 2, "dash": dash},
        )
        loss_lr_fig.add_scatter(
            x=lr[keep_smooth], y=smooth[keep_smooth], mode="lines", name=label,
            line={"color": color, "width": 2, "dash": dash},
        )  # fmt: skip
    _layout(loss_fig, "Training loss (moving average; diamonds: validation loss)", "optimizer step", "loss")
    _layout(lr_fig, "Learning rate used by each optimizer step", "optimizer step", "lr")
    for fig in (loss_fig, lr_fig, loss_lr_fig):
        fig.update_layout(showlegend=True)
    _layout(loss_lr_fig, "Loss (moving average) against lr", "lr (log)", "loss", log_x=True)
    lr_fig.update_yaxes(**lr_axis())  # the Designer's units (0.0003, not plotly's 300µ)
    loss_lr_fig.update_xaxes(**lr_axis(log=True))
    return loss_fig, lr_fig, loss_lr_fig


def noise_figure(frames: dict[str, pd.DataFrame], points: int = MAX_POINTS) -> tuple[go.Figure, str] | None:
    """The smoothed gradient noise scale per setting, and one sentence comparing it with the
    effective batch (``None`` when no setting accumulates)."""
    fig = go.Figure()
    sentence = None
    for i, (label, f) in enumerate(frames.items()):
        if f.empty or "noise_scale" not in f or not f["noise_scale"].notna().any():
            continue
        g = f[f["noise_scale"].notna()]
        step, value = g["step"].to_numpy(), g["noise_scale"].to_numpy()
        keep = downsample(step, value, points)
        fig.add_scatter(
            x=step[keep], y=value[keep], mode="lines", name=label,
            line={"color": COLORS[i % len(COLORS)], "width": 2, "dash": DASHES[i % len(DASHES)]},
        )  # fmt: skip
        if sentence is None:
            sentence = f"{label}: " + compare_sentence(float(value[-1]), int(f["window_samples"].max()))
    if sentence is None:
        return None
    _layout(
        fig, "Gradient noise scale B_simple (smoothed; McCandlish et al. 2018)", "optimizer step", "samples"
    )
    fig.update_layout(showlegend=True)
    return fig, sentence


def schedule_free_figure(frames: dict[str, pd.DataFrame], points: int = MAX_POINTS) -> go.Figure | None:
    """What a schedule-free run did instead of a decay, per setting: the step size (its own warmup)
    and the averaging weight c_k of each step (``None`` when no setting is schedule-free)."""
    fig = go.Figure()
    for i, (label, f) in enumerate(frames.items()):
        if f.empty or "sf_averaging" not in f:
            continue
        color, dash = COLORS[i % len(COLORS)], DASHES[i % len(DASHES)]
        step, lr, avg = f["step"].to_numpy(), f["lr"].to_numpy(), f["sf_averaging"].to_numpy()
        keep = downsample(step, lr, points)
        fig.add_scatter(
            x=step[keep], y=lr[keep], mode="lines", name=f"{label}: step size",
            line={"color": color, "width": 2, "dash": dash},
        )  # fmt: skip
        keep = downsample(step, avg, points)
        fig.add_scatter(
            x=step[keep], y=avg[keep], mode="lines", name=f"{label}: averaging weight c_k", yaxis="y2",
            line={"color": color, "width": 1, "dash": "dot"},
        )  # fmt: skip
    if not fig.data:
        return None
    _layout(fig, "Schedule-free: step size and averaging weight per step", "optimizer step", "step size")
    fig.update_yaxes(**lr_axis())
    fig.update_layout(
        showlegend=True, yaxis2={"title": "c_k (log)", "overlaying": "y", "side": "right", "type": "log"}
    )
    return fig


def _fmt(value: float, spec: str) -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, spec)


#: The column both the Live page and the Library name their final training loss by (the same figure).
FINAL_LOSS = "final loss (raw, mean of last 5%)"
#: What the steps/s column of the Live page's table measures.
STEPS_PER_S_HELP = (
    "Optimizer steps per second of this setting's own work: steps / the seconds spent taking them. The "
    "settings take turns, one step each, so settings that finish together can differ; a setting on real "
    "processes is timed by its ranks' own clock (they compute beside the others)."
)


def final_loss(loss: pd.Series) -> float:
    """The final training loss of a run: the mean of the raw (unsmoothed) loss over the last 5% of its
    logged steps (at least one), NaN without any.  The Live page and the Library show this same figure."""
    values = loss.dropna()
    if values.empty:
        return math.nan
    return float(values.iloc[-max(1, len(values) // 20) :].mean())


def summary_table(run: LiveRun, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per setting: its status, steps, final loss (:func:`final_loss`), last val loss, and its
    speed (:data:`STEPS_PER_S_HELP`: steps over the seconds its own steps took)."""
    rows = []
    for job in run.jobs:
        f = frames[job.label]
        n = len(f)
        val = f["val_loss"].dropna() if n else pd.Series(dtype=float)
        seconds = (float(f["wall_time"].iloc[-1]) if n else 0.0) if job.own_clock else job.busy
        rows.append(
            {
                "setting": job.label,
                "status": job.outcome,
                "steps": f"{n:,} / {job.total:,}",
                FINAL_LOSS: _fmt(final_loss(f["loss"]) if n else math.nan, ".4f"),
                "val loss": _fmt(float(val.iloc[-1]) if len(val) else math.nan, ".4f"),
                "steps/s": _fmt(n / seconds if seconds > 0 else math.nan, ",.0f"),
            }
        )
    return pd.DataFrame(rows)


def range_figure(frame: pd.DataFrame, suggestions: dict) -> go.Figure:
    fig = go.Figure()
    if not frame.empty:
        fig.add_scatter(
            x=frame["lr"], y=frame["loss"], mode="lines", name="loss", line={"color": "#94a3b8", "width": 1}
        )
        fig.add_scatter(
            x=frame["lr"],
            y=frame["smoothed"],
            mode="lines",
            name="smoothed",
            line={"color": COLORS[0], "width": 2.5},
        )
    for i, (name, s) in enumerate(suggestions.items()):
        color = COLORS[1 + i]
        fig.add_scatter(
            x=[s.lr],
            y=[s.smoothed],
            mode="markers+text",
            name=f"{name}: {s.lr:.3g}",
            text=[f"{name} {s.lr:.3g}"],
            textposition="bottom left" if i else "top right",
            marker={"color": color, "size": 13, "symbol": "x"},
        )
    _layout(fig, "LR range test: loss against lr", "lr (log)", "loss", log_x=True)
    fig.update_xaxes(**lr_axis(log=True))
    if not frame.empty:
        best = frame["smoothed"].min()
        low, high = min(frame["loss"].min(), best), min(frame["loss"].max(), 4.5 * abs(best))
        pad = 0.05 * (high - low) + 1e-6
        fig.update_yaxes(range=[low - pad, high + pad])
    return fig


def suggestions_table(suggestions: dict) -> pd.DataFrame:
    """One row per suggestion of a finished range test: its rule, lr, step and how it was found."""
    return pd.DataFrame(
        [
            {"rule": s.name, "lr": f"{s.lr:.3g}", "at step": s.step, "how": s.rule}
            for s in suggestions.values()
        ]
    )
