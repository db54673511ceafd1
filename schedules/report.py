"""Figures for reports and papers: ``python -m schedules plot CONFIG.json -o curve.html|png``.

- ``.html``: an interactive Plotly figure in one self-contained file (plotly.js embedded, about
  4.5 MB): it opens offline, with no CDN.
- ``.png``: a static image drawn with matplotlib (Agg backend: no browser, no display), 1600 x 900
  pixels at the default ``--dpi 200``.

Both show every param group's lr against ``--x step|epoch|samples`` (``--log`` for a log lr axis),
with the warmup end, the decay start after a hold, restarts and plateau reductions marked.
``--mistake KIND`` overlays what a loop with a classic stepping mistake does to the same design
(:mod:`schedules.mistakes`), the pictures of docs/mistakes.md ("Common mistakes"); ``--mistake
resume_fresh|resume_wrong_order --at N`` a resume trap at step N (:mod:`schedules.resume`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .build import load_config
from .command import EXIT_OK, command
from .curve import Curve, compute_curve
from .design import ConfigError, Problem, ScheduleConfig

XAxis = Literal["step", "epoch", "samples"]
X_TITLES = {"step": "optimizer step", "epoch": "epoch", "samples": "samples seen"}
COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"]
MISTAKE_COLOR = "#dc2626"
#: Points per line drawn (longer curves are thinned by striding, keeping every extreme of a step).
MAX_DRAWN = 20_000


def x_values(curve: Curve, axis: XAxis) -> np.ndarray:
    """The x coordinate of every row: step, fractional epoch (:meth:`Plan.epoch_positions`), or samples."""
    if axis == "step":
        return curve.frame["step"].to_numpy()
    if axis == "epoch":
        return curve.plan.epoch_positions()
    if axis == "samples":
        return curve.frame["samples"].to_numpy()
    raise ConfigError(Problem("--x", "must be one of step, epoch, samples", axis))


def _thin(n: int) -> np.ndarray:
    if n <= MAX_DRAWN:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_DRAWN).astype(np.int64))


def _marks(curve: Curve) -> list[tuple[int, str]]:
    keep = {"warmup_end", "hold_end", "restart", "plateau_reduction"}
    return [(e.step, e.label) for e in curve.events if e.kind in keep][:60]


def _mistake(
    config: ScheduleConfig, kind: str | None, at: int | None = None
) -> tuple[np.ndarray, str] | None:
    if kind is None:
        return None
    from .mistakes import MISTAKES, RESUME_MISTAKES, default_resume_step, mistake_curve

    kinds = {**MISTAKES, **RESUME_MISTAKES}
    if kind not in kinds:
        raise ConfigError(Problem("--mistake", f"must be one of {', '.join(kinds)}", kind))
    if kind in RESUME_MISTAKES:
        from .resume import check_at

        at = check_at(config, default_resume_step(config.plan) if at is None else at)
        frame = mistake_curve(config, kind, at)
        return frame["lr"].to_numpy(), f"{kinds[kind][0]} at step {at}"
    frame = mistake_curve(config, kind)
    return frame["lr"].to_numpy(), kinds[kind][0]


def _title(curve: Curve) -> str:
    s = curve.summary()
    return (
        f"{curve.config.name}: {s['total_steps']} optimizer steps, warmup {s['warmup_steps']}, "
        f"peak lr {s['peak_lr']:.3g}, effective batch {s['effective_batch']}"
    )


def plotly_figure(
    curve: Curve, axis: XAxis = "step", log_y: bool = False, mistake: str | None = None, at: int | None = None
):
    """The interactive figure (plotly ``go.Figure``)."""
    import plotly.graph_objects as go

    x = x_values(curve, axis)
    idx = _thin(len(x))
    fig = go.Figure()
    for i, name in enumerate(curve.group_names):
        label = "lr" if len(curve.group_names) == 1 else f"lr/{name}"
        fig.add_trace(
            go.Scatter(
                x=x[idx],
                y=curve.lrs[idx, i],
                mode="lines",
                name=label,
                line={"color": COLORS[i % len(COLORS)], "width": 2},
            )
        )
    extra = _mistake(curve.config, mistake, at)
    if extra is not None:
        lr, label = extra
        fig.add_trace(
            go.Scatter(
                x=x[idx], y=lr[idx], mode="lines", name=label, line={"color": MISTAKE_COLOR, "dash": "dash"}
            )
        )
    for step, label in _marks(curve):
        if step < len(x):
            fig.add_vline(
                x=float(x[step]), line={"color": "#64748b", "dash": "dot", "width": 1}, annotation_text=label
            )
    fig.update_layout(
        title=_title(curve),
        xaxis_title=X_TITLES[axis],
        yaxis_title="learning rate",
        template="plotly_white",
        height=520,
        legend={"orientation": "h", "y": -0.18},
    )
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def overlay_figure(curve: Curve, others: dict[str, np.ndarray], log_y: bool = False, height: int = 360):
    """The design's lr (first group) with other curves of the same rows dashed over it (e.g. what an
    export target does), against the optimizer step."""
    import plotly.graph_objects as go

    x = curve.frame["step"].to_numpy()
    idx = _thin(len(x))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x[idx], y=curve.lrs[idx, 0], mode="lines", name="design", line={"color": COLORS[0], "width": 3}
        )
    )
    for i, (name, lr) in enumerate(others.items()):
        y = np.asarray(lr)
        y = y[:, 0] if y.ndim == 2 else y
        n = min(len(y), len(x))
        j = idx[idx < n]
        fig.add_trace(
            go.Scatter(
                x=x[j],
                y=y[j],
                mode="lines",
                name=name,
                line={"color": COLORS[(i + 1) % len(COLORS)], "dash": "dash", "width": 2},
            )
        )
    fig.update_layout(
        xaxis_title=X_TITLES["step"],
        yaxis_title="learning rate",
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.12},
    )
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def log_figure(curve: Curve, log: Any, log_y: bool = False, height: int = 620):
    """A run log over the design: top, the design's lr and the logged lr; bottom, the logged
    training and validation loss.  x is the design's optimizer step (row), see RunLog.rows."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=("learning rate", "loss")
    )
    x = curve.frame["step"].to_numpy()
    idx = _thin(len(x))
    fig.add_trace(
        go.Scatter(
            x=x[idx],
            y=curve.lrs[idx, 0],
            mode="lines",
            name="design lr",
            line={"color": COLORS[0], "width": 3},
        ),
        row=1,
        col=1,
    )
    styles = {
        "lr": ("logged lr", COLORS[1], 1, "dash"),
        "loss": ("training loss", COLORS[2], 2, "solid"),
        "val_loss": ("validation loss", COLORS[3], 2, "solid"),
    }
    for kind, (name, color, row, dash) in styles.items():
        if not log.has(kind):
            continue
        f = log.rows(kind)
        j = _thin(len(f))
        mode = "lines+markers" if kind == "val_loss" else "lines"
        fig.add_trace(
            go.Scatter(
                x=f["row"].to_numpy()[j],
                y=f["value"].to_numpy()[j],
                mode=mode,
                name=name,
                line={"color": color, "dash": dash, "width": 2},
            ),
            row=row,
            col=1,
        )
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "y": 1.08},
    )
    fig.update_xaxes(title_text=X_TITLES["step"], row=2, col=1)
    if log_y:
        fig.update_yaxes(type="log", row=1, col=1)
    return fig


def write_html(
    curve: Curve,
    path: Path,
    axis: XAxis = "step",
    log_y: bool = False,
    mistake: str | None = None,
    at: int | None = None,
) -> None:
    fig = plotly_figure(curve, axis, log_y, mistake, at)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def write_png(
    curve: Curve,
    path: Path,
    axis: XAxis = "step",
    log_y: bool = False,
    mistake: str | None = None,
    dpi: int = 200,
    size: tuple[float, float] = (8.0, 4.5),
    at: int | None = None,
) -> None:
    """A static PNG with matplotlib's Agg backend (thread-safe use of the object API, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = x_values(curve, axis)
    idx = _thin(len(x))
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, name in enumerate(curve.group_names):
        label = "lr" if len(curve.group_names) == 1 else f"lr/{name}"
        ax.plot(x[idx], curve.lrs[idx, i], color=COLORS[i % len(COLORS)], linewidth=1.8, label=label)
    extra = _mistake(curve.config, mistake, at)
    if extra is not None:
        lr, label = extra
        ax.plot(x[idx], lr[idx], color=MISTAKE_COLOR, linewidth=1.6, linestyle="--", label=label)
    for step, label in _marks(curve)[:12]:
        if step < len(x):
            ax.axvline(float(x[step]), color="#64748b", linestyle=":", linewidth=1)
            ax.annotate(
                label,
                (float(x[step]), 0.03),
                xycoords=("data", "axes fraction"),
                xytext=(3, 0),
                textcoords="offset points",
                rotation=90,
                fontsize=7,
                color="#475569",
                va="bottom",
                ha="left",
            )
    ax.set_xlabel(X_TITLES[axis])
    ax.set_ylabel("learning rate")
    if log_y:
        ax.set_yscale("log")
    ax.set_title(_title(curve), fontsize=9)
    ax.grid(True, color="#e2e8f0", linewidth=0.6)
    ax.legend(fontsize=8, loc="best")
    fig.savefig(str(path), dpi=dpi, format="png")


def plot(
    config: ScheduleConfig | dict[str, Any] | str | Path,
    output: str | Path,
    axis: XAxis = "step",
    log_y: bool = False,
    mistake: str | None = None,
    dpi: int = 200,
    at: int | None = None,
) -> Path:
    """Write the design's curve to ``output`` (.html or .png); returns the path."""
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".png"):
        raise ConfigError(Problem("-o/--output", "must end in .html or .png", str(output)))
    curve = compute_curve(load_config(config if not isinstance(config, Path) else str(config)))
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        write_png(curve, path, axis, log_y, mistake, dpi, at=at)
    else:
        write_html(curve, path, axis, log_y, mistake, at)
    return path


def _plot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument(
        "-o", "--output", required=True, help="curve.html (interactive, self-contained) or curve.png"
    )
    p.add_argument(
        "--x", dest="axis", choices=("step", "epoch", "samples"), default="step", help="x axis (default step)"
    )
    p.add_argument("--log", action="store_true", help="logarithmic lr axis")
    p.add_argument(
        "--mistake",
        default=None,
        help="overlay a stepping mistake: per_micro_batch, before_optimizer_step, unadjusted_accumulation, "
        "or a resume trap: resume_fresh, resume_wrong_order",
    )
    p.add_argument(
        "--at",
        type=int,
        default=None,
        help="with a resume_* mistake: the optimizer step the run is saved and restarted at (default: half way)",
    )
    p.add_argument("--dpi", type=int, default=200, help="PNG resolution (default 200: 1600 x 900 pixels)")


def mistake_note(config: ScheduleConfig, kind: str | None) -> str | None:
    """Why a mistake draws the same line as the design (accumulation 1), or ``None``."""
    a = config.training.accumulation_steps
    if kind in ("per_micro_batch", "unadjusted_accumulation") and a == 1:
        why = {
            "per_micro_batch": "every optimizer step is one micro-batch, so stepping per micro-batch is "
            "stepping per optimizer step",
            "unadjusted_accumulation": "lengths counted in micro-batches are lengths in optimizer steps",
        }[kind]
        return (
            f"--mistake {kind} changes nothing at accumulation_steps 1 ({why}): its line is the design's; "
            "set training.accumulation_steps > 1 to see it"
        )
    return None


@command("plot", "draw the curve to an HTML (interactive) or PNG (static) file", _plot_args)
def cmd_plot(args: argparse.Namespace) -> int:
    if not 50 <= args.dpi <= 600:
        raise ConfigError(Problem("--dpi", "must be an integer in [50, 600]", args.dpi))
    if args.at is not None and (args.mistake or "") not in ("resume_fresh", "resume_wrong_order"):
        raise ConfigError(Problem("--at", "goes with --mistake resume_fresh or resume_wrong_order", args.at))
    config = load_config(args.config if not isinstance(args.config, Path) else str(args.config))
    path = plot(config, args.output, args.axis, args.log, args.mistake, args.dpi, at=args.at)
    note = mistake_note(config, args.mistake)
    if note is not None:
        print(f"warning: {note}", file=sys.stderr)
    print(f"wrote {path}")
    return EXIT_OK
