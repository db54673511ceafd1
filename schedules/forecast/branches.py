"""Cooldown branches: from a constant (stable) trunk, cooldowns branched off at chosen steps, each with its
forecast final loss, drawn as a fan, and a recommendation of which branch when.

The warmup-stable-decay recipe (Hägele et al. 2024, *Scaling Laws and Compute-Optimal Training Beyond
Fixed Training Durations*) trains one long run at a constant lr and branches cooldowns off it: a branch
that starts at step ``s`` and cools down over ``n`` steps is the run of ``s + n`` steps that holds the
peak lr until ``s`` and then decays.  Every branch here is an ordinary ``lr-schedule/v1`` design (its
curve comes from the real torch schedulers, as every design's): the trunk's optimizer, training and
warmup, ``decay.hold_steps = s - warmup``, ``training.max_steps = s + n``, and the cooldown shape:

==============  =====================================================================  =====================
shape           the lr over the cooldown (``p`` from 0 to 1), ``f`` = ``final``        torch scheduler
==============  =====================================================================  =====================
linear          ``lr (1 - (1 - f) p)``                                                  ``LinearLR``
cosine          ``lr (f + (1 - f) (1 + cos(pi p)) / 2)``                                ``CosineAnnealingLR``
1-sqrt          ``lr (1 - (1 - f) sqrt(p))`` (Hägele et al. 2024)                        ``LambdaLR``
linear-to-zero  ``lr (1 - p)``: linear decay to zero, D2Z (Bergsma et al. 2025)          ``LinearLR``
==============  =====================================================================  =====================

``final`` (default :data:`DEFAULT_FINAL` = 0.1, the common "10x" decay) is where linear, cosine and 1-sqrt
end; linear-to-zero always ends at 0.  Each branch's forecast is :func:`schedules.forecast.predict` of its
lr curve, the same function ``forecast --predict BRANCH.json`` uses, so the numbers are the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..build import load_config
from ..design import ConfigError, Problem, ScheduleConfig
from .fit import predict
from .suggest import decay_section
from .validity import caveats

SHAPES = ("linear", "cosine", "1-sqrt", "linear-to-zero")
DEFAULT_FINAL = 0.1
#: Most branches one call draws and forecasts.
MAX_BRANCHES = 48

LrOf = Callable[[ScheduleConfig], np.ndarray]


@dataclass(frozen=True)
class Branch:
    """A cooldown from step ``start`` over ``length`` steps, of ``shape``, to ``final`` x the peak lr."""

    start: int
    length: int
    shape: str
    final: float = DEFAULT_FINAL

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def to(self) -> float:
        return 0.0 if self.shape == "linear-to-zero" else self.final

    @property
    def name(self) -> str:
        to = "to 0" if self.to == 0 else f"to {self.to:g} x lr"
        return f"{self.shape} cooldown from step {self.start:,} over {self.length:,} steps, {to}"

    @property
    def slug(self) -> str:
        """A file-name stem: ``1-sqrt_from4000_over800``."""
        return f"{self.shape}_from{self.start}_over{self.length}"


def trunk_config(config: ScheduleConfig | dict[str, Any] | str) -> ScheduleConfig:
    """The constant trunk of a design: its optimizer, training and warmup, then the peak lr (its decay,
    plateau or wsd section left out; a wsd section's warmup becomes a linear warmup of the same length)."""
    cfg = load_config(config)
    data = cfg.to_dict()
    if cfg.wsd is not None:
        w, _, _ = cfg.wsd.lengths(cfg.plan.total_steps)
        start = cfg.wsd.warmup_start if cfg.wsd.warmup_start is not None else cfg.wsd.min_lr_ratio
        data["warmup"] = {"steps": w, "ratio": None, "start_factor": start} if w else None
        data.pop("wsd")
    data.update({"decay": None, "plateau": None, "name": f"{cfg.name} (constant trunk)"})
    return load_config(data)


def branch_config(trunk: ScheduleConfig, branch: Branch) -> ScheduleConfig:
    """The design of ``branch`` off ``trunk`` (module doc); ConfigError naming the field when it cannot
    be one (a start inside the warmup, an unknown shape)."""
    if branch.shape not in SHAPES:
        raise ConfigError(Problem("shape", f"must be one of {', '.join(SHAPES)}", branch.shape))
    if not 0 <= branch.final < 1:
        raise ConfigError(Problem("final", "must be a fraction of the peak lr in [0, 1)", branch.final))
    warm = trunk.plan.warmup_steps
    if branch.start < max(warm, 1):
        raise ConfigError(
            Problem(
                "start",
                f"must be >= {max(warm, 1):,} (the trunk's warmup ends at step {warm:,})",
                branch.start,
            )
        )
    if branch.length < 1:
        raise ConfigError(Problem("length", "must be >= 1 optimizer step", branch.length))
    data = trunk.to_dict()
    peak = float(trunk.optimizer.lr)
    shape = "linear" if branch.shape == "linear-to-zero" else branch.shape
    decay = decay_section(shape, branch.to, peak)  # its length defaults to the steps after the hold: n
    data["decay"] = {**decay, "interval": "step", "hold_steps": branch.start - warm}
    data["training"]["max_steps"] = branch.end
    data["name"] = f"{trunk.name.removesuffix(' (constant trunk)')}: {branch.name}"[:200]
    return load_config(data)


def branch_grid(
    starts: Sequence[int], lengths: Sequence[int | str], shapes: Sequence[str], final: float = DEFAULT_FINAL
) -> list[Branch]:
    """Every (start, length, shape).  A length is optimizer steps, or ``"P%"``: the cooldown is P% of the
    branch's whole run (``n = round(s P / (100 - P))``, so ``n / (s + n) = P / 100``, as "a cooldown over
    the last 20%")."""
    out: list[Branch] = []
    for s in starts:
        for raw in lengths:
            n = _length(raw, int(s))
            for shape in shapes:
                b = Branch(int(s), n, shape, final)
                if b not in out:  # "20%" and a length in steps may be the same branch
                    out.append(b)
    if len(out) > MAX_BRANCHES:
        raise ConfigError(
            Problem("branches", f"must be at most {MAX_BRANCHES} (starts x lengths x shapes)", len(out))
        )
    if not out:
        raise ConfigError(Problem("branches", "needs at least one start, length and shape", 0))
    return out


def _length(raw: int | str, start: int) -> int:
    if isinstance(raw, str) and raw.strip().endswith("%"):
        try:
            p = float(raw.strip()[:-1])
        except ValueError:
            p = math.nan
        if not 0 < p < 100:
            raise ConfigError(
                Problem("length", "must be a number of steps or a percentage in (0, 100)%", raw)
            )
        return max(1, round(start * p / (100 - p)))
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            Problem("length", "must be a number of steps or a percentage like 20%", raw)
        ) from None
    return n


def _lr_of(config: ScheduleConfig) -> np.ndarray:
    from ..curve import lr_curve

    return lr_curve(config)["lr"].to_numpy(dtype=np.float64)


@dataclass
class Branches:
    """The forecast branches: ``table`` (one row per branch, lowest final loss first), each branch's
    prediction frame and design (by name), and the trunk's prediction up to the last branch's end."""

    table: pd.DataFrame
    predictions: dict[str, pd.DataFrame]
    designs: dict[str, ScheduleConfig]
    trunk: pd.DataFrame


def forecast_branches(
    fit: dict[str, Any],
    config: ScheduleConfig | dict[str, Any] | str,
    branches: Sequence[Branch],
    lr_of: LrOf | None = None,
) -> Branches:
    """Forecast every branch of ``config``'s constant trunk: final loss with its band (the last row of
    :func:`predict`), the branch's caveats against the fit's scope, and its design."""
    lr_of = lr_of or _lr_of
    trunk = trunk_config(config)
    rows, preds, designs = [], {}, {}
    batch = int(trunk.plan.effective_batch)
    for b in branches:
        cfg = branch_config(trunk, b)
        lr = lr_of(cfg)
        frame = predict(fit, lr, name=b.name)
        last = frame.iloc[-1]
        rows.append(
            {
                "branch": b.name,
                "start": b.start,
                "length": b.length,
                "end": b.end,
                "shape": b.shape,
                "final_lr": float(lr[-1]),
                "loss_pred": float(last.loss_pred),
                "loss_low": float(last.loss_low),
                "loss_high": float(last.loss_high),
                "caveats": "; ".join(caveats(fit, lr, batch)),
                "file": b.slug,
            }
        )
        preds[b.name] = frame
        designs[b.name] = cfg
    table = pd.DataFrame(rows).sort_values(["end", "loss_pred"], kind="stable").reset_index(drop=True)
    longest = max(b.end for b in branches)
    trunk_long = load_config(
        {**trunk.to_dict(), "training": {**trunk.to_dict()["training"], "max_steps": longest}}
    )
    return Branches(table, preds, designs, predict(fit, lr_of(trunk_long), name="trunk"))


def recommend(table: pd.DataFrame) -> list[str]:
    """Which branch when: for every end step (the run's budget), the branch with the lowest predicted
    final loss, how far below the next it is, and whether the bands separate them; then the shape that
    wins most often.  Plain text lines."""
    lines = []
    winners = []
    for end, group in table.groupby("end", sort=True):
        g = group.sort_values("loss_pred", kind="stable")
        best = g.iloc[0]
        winners.append(best["shape"])
        text = f"Stopping at step {int(end):,}: {best['branch']} ({best['loss_pred']:.4f})"
        if len(g) > 1:
            second = g.iloc[1]
            gap = second["loss_pred"] / best["loss_pred"] - 1
            clear = second["loss_low"] > best["loss_high"]
            text += f", {gap:.2%} below {second['shape']} from step {int(second['start']):,}" + (
                "" if clear else " (within the band: not a clear winner)"
            )
        lines.append(text + ".")
    if len(winners) > 1:
        top = max(set(winners), key=winners.count)
        lines.append(f"Lowest at {winners.count(top)} of {len(winners)} end steps: the {top} cooldown.")
    flagged = table[table["caveats"] != ""]
    if len(flagged):
        lines.append(
            f"{len(flagged)} of {len(table)} branches lie outside the fitted runs (see their caveats): "
            "treat their numbers as extrapolation."
        )
    return lines
